# Sourced by the scripts that package kiln-agent (build-sandbox.sh, build-agent-initrd.sh): sets
# $agent to the static agent binary, built from this checkout (swift build -c release --product
# kiln-agent, scratch path .build-agent) unless KILN_AGENT names one. Needs $repo, log, die.
agent=${KILN_AGENT:-}
if [ -z "$agent" ]; then
    log "building kiln-agent (static)"
    (cd "$repo" && PATH="/opt/swift/usr/bin:$PATH" swift build -c release --product kiln-agent \
        --scratch-path .build-agent -Xswiftc -static-executable -Xlinker -s >&2) || die "kiln-agent build failed"
    agent=$repo/.build-agent/release/kiln-agent
fi
[ -x "$agent" ] || die "no agent binary at $agent"
file -L "$agent" | grep -q 'statically linked' || die "$agent is not statically linked"

/// An API answer as the bytes of an HTTP/1.1 response: the head swift-nio's encoder wrote
/// before (status line, Server, Content-Length, Content-Type when there is a body,
/// Connection), then the JSON body.
enum HTTPResponseText {
    static func bytes(_ response: APIResponse, keepAlive: Bool) -> [UInt8] {
        let body = response.body?.serialized ?? ""
        var text = "HTTP/1.1 \(response.status) \(reason(response.status))\r\nServer: Kiln API\r\n"
        text += "Content-Length: \(body.utf8.count)\r\n"
        if !body.isEmpty { text += "Content-Type: application/json\r\n" }
        text += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        text += body
        return Array(text.utf8)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 413: "Payload Too Large"
        case 500: "Internal Server Error"
        default: "Status"
        }
    }
}

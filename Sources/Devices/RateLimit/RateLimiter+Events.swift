extension RateLimiter {
    /// Has `events` service `queue` whenever this limiter's timer fires (its budget is back, or
    /// the VMM updated it): the queue's processing then asks `admit()` again. Throws the
    /// timerfd failure of a device-made limiter, or the failure to watch the timer.
    func serviceOnTimer(_ queue: Int, through events: any DeviceEvents) throws(DeviceEventsError) {
        if let timerFailure { throw timerFailure }
        try events.watch(timerFD, for: .readable) { [weak self, weak events] _ in
            self?.acknowledgeTimer()
            events?.serviceQueue(queue)
        }
    }
}

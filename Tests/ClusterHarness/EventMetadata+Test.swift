import EventLog

extension EventMetadata {
    /// The audit trail of events a test appends straight to the log, past command-api.
    public static let test = EventMetadata(subject: "test", requestID: nil)
}

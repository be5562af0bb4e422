import HTTPTypes

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
}

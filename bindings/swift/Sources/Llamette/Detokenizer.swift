import CLlamette

/// A streaming detokenizer: push token ids, get back text in whole UTF-8 characters (exactly
/// the text generation hands out). Not for use from several threads at once.
public final class Detokenizer {
    /// The model this detokenizer belongs to (kept alive by it).
    public let model: Model
    let handle: OpaquePointer

    public init(model: Model) throws {
        var out: OpaquePointer?
        try check(llamette_detokenizer_new(model.handle, &out))
        self.model = model
        handle = out!
    }

    deinit { llamette_detokenizer_free(handle) }

    /// Adds `token`; returns the text that became complete (possibly empty). An incomplete
    /// UTF-8 character is held back until its last byte arrives.
    public func push(_ token: Token) throws -> String {
        var text: UnsafePointer<CChar>?
        var count = 0
        try check(llamette_detokenizer_push(handle, token, &text, &count))
        return makeString(text, count)
    }

    /// Ends the stream: returns what was held back (an incomplete character becomes U+FFFD).
    /// The detokenizer can then start a new stream.
    public func finish() throws -> String {
        var text: UnsafePointer<CChar>?
        var count = 0
        try check(llamette_detokenizer_finish(handle, &text, &count))
        return makeString(text, count)
    }
}

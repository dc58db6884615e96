import CLlamette
import Foundation

/// A failure reported by the llamette C library: which kind (one case per `LlametteStatus`)
/// and the detailed message `llamette_last_error()` gave on the thread that made the call.
///
/// ```swift
/// do {
///     let model = try Model(path: "missing.gguf")
/// } catch LlametteError.io(let message) {
///     print("cannot open the model:", message)
/// }
/// ```
public enum LlametteError: Error, Equatable, Sendable {
    /// A required pointer was NULL (a bug in the binding if it ever shows).
    case nullArgument(message: String)
    /// A bad parameter value, an unknown chat format, a model without a known template.
    case invalidArgument(message: String)
    /// A malformed GGUF file or model.
    case badFile(message: String)
    /// An architecture, tensor type or GGUF version llamette does not run.
    case unsupported(message: String)
    /// A file that cannot be opened or mapped.
    case io(message: String)
    /// An output buffer was too small (the binding sizes its buffers: a bug if it shows).
    case bufferTooSmall(message: String)
    /// The context has no room for the tokens.
    case contextFull(message: String)
    /// A token id outside the vocabulary.
    case badToken(message: String)
    /// A conversation that breaks its chat format's rules.
    case badChat(message: String)
    /// The allocator returned NULL.
    case allocation(message: String)
    /// The abort flag was raised (reserved by the C API).
    case aborted(message: String)
    /// A bug or a broken callback contract, caught at the C boundary.
    case panic(message: String)
    /// A saved state that cannot be restored here (another model, truncated, corrupted).
    case badState(message: String)
    /// A grammar, JSON schema or regular expression that cannot be used; the message says
    /// where (line and column).
    case badGrammar(message: String)
    /// The sampler's grammar allows no token (or not the one given to `acceptSampled`).
    case constraint(message: String)
    /// A status this version of the binding does not know (the C API only ever adds codes).
    case unknown(code: Int, message: String)

    /// Makes the error for a failed call, reading `llamette_last_error()` now: call it on the
    /// thread that made the call, before any other llamette call.
    init(status: LlametteStatus) {
        let message = String(cString: llamette_last_error())
        switch status {
        case LLAMETTE_ERR_NULL_ARGUMENT: self = .nullArgument(message: message)
        case LLAMETTE_ERR_INVALID_ARGUMENT: self = .invalidArgument(message: message)
        case LLAMETTE_ERR_BAD_FILE: self = .badFile(message: message)
        case LLAMETTE_ERR_UNSUPPORTED: self = .unsupported(message: message)
        case LLAMETTE_ERR_IO: self = .io(message: message)
        case LLAMETTE_ERR_BUFFER_TOO_SMALL: self = .bufferTooSmall(message: message)
        case LLAMETTE_ERR_CONTEXT_FULL: self = .contextFull(message: message)
        case LLAMETTE_ERR_BAD_TOKEN: self = .badToken(message: message)
        case LLAMETTE_ERR_BAD_CHAT: self = .badChat(message: message)
        case LLAMETTE_ERR_ALLOCATION: self = .allocation(message: message)
        case LLAMETTE_ERR_ABORTED: self = .aborted(message: message)
        case LLAMETTE_ERR_PANIC: self = .panic(message: message)
        case LLAMETTE_ERR_BAD_STATE: self = .badState(message: message)
        case LLAMETTE_ERR_BAD_GRAMMAR: self = .badGrammar(message: message)
        case LLAMETTE_ERR_CONSTRAINT: self = .constraint(message: message)
        default: self = .unknown(code: Int(status.rawValue), message: message)
        }
    }

    /// The C status code (`LlametteStatus`), stable across versions.
    public var code: Int {
        switch self {
        case .nullArgument: return Int(LLAMETTE_ERR_NULL_ARGUMENT.rawValue)
        case .invalidArgument: return Int(LLAMETTE_ERR_INVALID_ARGUMENT.rawValue)
        case .badFile: return Int(LLAMETTE_ERR_BAD_FILE.rawValue)
        case .unsupported: return Int(LLAMETTE_ERR_UNSUPPORTED.rawValue)
        case .io: return Int(LLAMETTE_ERR_IO.rawValue)
        case .bufferTooSmall: return Int(LLAMETTE_ERR_BUFFER_TOO_SMALL.rawValue)
        case .contextFull: return Int(LLAMETTE_ERR_CONTEXT_FULL.rawValue)
        case .badToken: return Int(LLAMETTE_ERR_BAD_TOKEN.rawValue)
        case .badChat: return Int(LLAMETTE_ERR_BAD_CHAT.rawValue)
        case .allocation: return Int(LLAMETTE_ERR_ALLOCATION.rawValue)
        case .aborted: return Int(LLAMETTE_ERR_ABORTED.rawValue)
        case .panic: return Int(LLAMETTE_ERR_PANIC.rawValue)
        case .badState: return Int(LLAMETTE_ERR_BAD_STATE.rawValue)
        case .badGrammar: return Int(LLAMETTE_ERR_BAD_GRAMMAR.rawValue)
        case .constraint: return Int(LLAMETTE_ERR_CONSTRAINT.rawValue)
        case .unknown(let code, _): return code
        }
    }

    /// The detailed message of `llamette_last_error()` (may be empty).
    public var message: String {
        switch self {
        case .nullArgument(let m), .invalidArgument(let m), .badFile(let m), .unsupported(let m),
             .io(let m), .bufferTooSmall(let m), .contextFull(let m), .badToken(let m),
             .badChat(let m), .allocation(let m), .aborted(let m), .panic(let m),
             .badState(let m), .badGrammar(let m), .constraint(let m), .unknown(_, let m):
            return m
        }
    }

    /// The library's short English name of the status (`llamette_status_message`).
    public var statusDescription: String {
        String(cString: llamette_status_message(LlametteStatus(rawValue: .init(code))))
    }
}

extension LlametteError: CustomStringConvertible, LocalizedError {
    public var description: String {
        message.isEmpty
            ? "llamette: \(statusDescription) (status \(code))"
            : "llamette: \(statusDescription) (status \(code)): \(message)"
    }

    public var errorDescription: String? { description }
}

/// Throws the `LlametteError` of `status` unless it is `LLAMETTE_OK`.
@inline(__always)
func check(_ status: LlametteStatus) throws {
    if status != LLAMETTE_OK { throw LlametteError(status: status) }
}

import CLlamette
import Foundation

/// A token id of a model's vocabulary.
public typealias Token = UInt32

/// A loaded GGUF model: immutable, and safe to share between threads and contexts.
///
/// A model loaded from a file is memory-mapped. A model made from bytes in memory borrows them
/// (llamette copies no weights): the `Model` owns the bytes and keeps them alive as long as it
/// lives, and every `Context`, `Sampler` and `Detokenizer` made from it holds a strong reference
/// to it, so the bytes outlive all of them.
///
/// A vocabulary-only GGUF file gives a model that tokenizes, detokenizes and renders chats
/// but cannot make a context.
public final class Model: @unchecked Sendable {
    // @unchecked Sendable: the C model is immutable and every function taking a
    // `const LlametteModel *` may run on any thread at once; the Swift object is immutable.

    /// The C handle (`LlametteModel *`), freed in `deinit`.
    let handle: OpaquePointer
    /// The bytes a model from memory borrows; nil for a mapped file.
    private let storage: ByteStorage?

    /// Hyperparameters and special tokens, read at load.
    public let info: ModelInfo

    /// Loads (memory-maps) the GGUF file at `path`. For a split model give the first part;
    /// the others are found next to it.
    public init(path: String) throws {
        var out: OpaquePointer?
        try check(llamette_model_load(path, &out))
        let handle = out!
        self.handle = handle
        storage = nil
        info = Model.readInfo(handle)
    }

    /// Loads the GGUF file at `url` (a file URL).
    public convenience init(contentsOf url: URL) throws {
        try self.init(path: url.path)
    }

    /// Makes a model from a GGUF file held in memory. The bytes are copied once into memory the
    /// model owns (a `Data`'s storage has no address that stays valid outside
    /// `withUnsafeBytes`), and freed when the model and everything made from it are gone. To
    /// avoid the copy, load from a path (mapped) or use `init(bytesNoCopy:deallocator:)`.
    public convenience init(data: Data) throws {
        try self.init(storage: ByteStorage(copying: data))
    }

    /// As `init(data:)`, from an array of bytes.
    public convenience init(bytes: [UInt8]) throws {
        try self.init(storage: ByteStorage(copying: bytes))
    }

    /// Makes a model from a GGUF file in memory without copying it. The model takes ownership
    /// of the bytes: they must stay valid and unchanged until `deallocator` is called, which
    /// happens once, when the model and every context, sampler and detokenizer made from it
    /// are gone (or right away if loading fails).
    public convenience init(
        bytesNoCopy bytes: UnsafeRawBufferPointer,
        deallocator: @escaping @Sendable () -> Void
    ) throws {
        try self.init(storage: ByteStorage(borrowing: bytes, release: deallocator))
    }

    private init(storage: ByteStorage) throws {
        var out: OpaquePointer?
        try check(llamette_model_from_memory(storage.base, storage.count, &out))
        let handle = out!
        self.handle = handle
        self.storage = storage
        info = Model.readInfo(handle)
    }

    deinit {
        llamette_model_free(handle)
        // `storage` is released after this: the C model no longer refers to the bytes (every
        // context, sampler and detokenizer holding a reference to this object is gone).
    }

    private static func readInfo(_ handle: OpaquePointer) -> ModelInfo {
        var raw = LlametteModelInfo()
        // Fails only for NULL arguments, which these are not.
        _ = llamette_model_info(handle, &raw)
        return ModelInfo(raw)
    }

    /// The architecture (`general.architecture`, e.g. "llama").
    public func architecture() throws -> String {
        try readString(guess: 32) { buf, cap, n in llamette_model_architecture(handle, buf, cap, n) }
    }

    /// The metadata value of `key` as text (strings as they are, numbers in decimal, booleans
    /// as "true"/"false", arrays as "[n items]"), or nil when the file has no such key.
    public func metadata(_ key: String) throws -> String? {
        do {
            return try readString { buf, cap, n in llamette_model_meta_string(handle, key, buf, cap, n) }
        } catch LlametteError.invalidArgument {
            return nil
        }
    }

    /// Tokenizes `text` as llama.cpp's `llama_tokenize` does.
    /// - Parameters:
    ///   - addSpecial: put BOS in front (and EOS at the end) where the vocabulary says so.
    ///   - parseSpecial: control tokens written in the text (`<s>`, `<|im_start|>`) become
    ///     their ids; otherwise they are tokenized as plain text (the safe choice for text
    ///     from users).
    public func tokenize(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) throws -> [Token] {
        var text = text
        return try text.withUTF8 { (utf8: UnsafeBufferPointer<UInt8>) throws -> [Token] in
            // NULL is allowed for empty text.
            let chars = UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self)
            let ids: [Token] = try readArray(guess: utf8.count + 2) { ids, cap, n in
                llamette_tokenize(handle, chars, utf8.count, addSpecial, parseSpecial, ids, cap, n)
            }
            return ids
        }
    }

    /// The text of `tokens`, in whole UTF-8 characters (what generation hands out for them;
    /// control tokens are rendered as nothing).
    public func detokenize(_ tokens: [Token]) throws -> String {
        let detokenizer = try Detokenizer(model: self)
        var text = ""
        for token in tokens { text += try detokenizer.push(token) }
        text += try detokenizer.finish()
        return text
    }

    /// The bytes of one token (llama.cpp's `llama_token_to_piece`): possibly part of a UTF-8
    /// character. `special` renders control tokens as their text.
    public func piece(of token: Token, special: Bool = false) throws -> [UInt8] {
        let chars: [CChar] = try readArray(guess: 16) { buf, cap, n in
            llamette_token_to_piece(handle, token, special, buf, cap, n)
        }
        return chars.map { UInt8(bitPattern: $0) }
    }

    /// Whether `token` ends generation (EOS, EOT and tokens the vocabulary marks so).
    public func isEndOfGeneration(_ token: Token) throws -> Bool {
        var out = false
        try check(llamette_model_is_eog(handle, token, &out))
        return out
    }
}

/// A model's hyperparameters and special tokens.
public struct ModelInfo: Sendable, Equatable {
    /// Vocabulary size; token ids are `0 ..< vocabularySize`.
    public var vocabularySize: Int
    /// Width of the residual stream (embedding length).
    public var embeddingLength: Int
    /// Transformer blocks.
    public var layerCount: Int
    /// Hidden width of the feed-forward network.
    public var feedForwardLength: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads.
    public var keyValueHeadCount: Int
    /// Elements per head.
    public var headDimension: Int
    /// Context length the model was trained with.
    public var trainedContextLength: Int
    /// Rope base frequency.
    public var ropeFrequencyBase: Float
    /// RMS norm epsilon.
    public var rmsEpsilon: Float
    /// Beginning-of-sequence token, if any.
    public var bos: Token?
    /// End-of-sequence token, if any.
    public var eos: Token?
    /// End-of-turn token, if any.
    public var eot: Token?
    /// The chat format of the model's template, if llamette knows it.
    public var chatFormat: ChatFormat?
    /// Bytes of weights copied at load (tensors straddling a cut between parts).
    public var copiedBytes: UInt64

    init(_ raw: LlametteModelInfo) {
        func token(_ id: Int32) -> Token? { id < 0 ? nil : Token(id) }
        vocabularySize = Int(raw.n_vocab)
        embeddingLength = Int(raw.n_embd)
        layerCount = Int(raw.n_layer)
        feedForwardLength = Int(raw.n_ff)
        headCount = Int(raw.n_head)
        keyValueHeadCount = Int(raw.n_head_kv)
        headDimension = Int(raw.head_dim)
        trainedContextLength = Int(raw.n_ctx_train)
        ropeFrequencyBase = raw.rope_freq_base
        rmsEpsilon = raw.rms_eps
        bos = token(raw.bos)
        eos = token(raw.eos)
        eot = token(raw.eot)
        chatFormat = ChatFormat(raw.chat_format)
        copiedBytes = raw.copied_bytes
    }
}

/// Memory holding a GGUF file for `llamette_model_from_memory`, at a stable address.
final class ByteStorage {
    let base: UnsafePointer<UInt8>
    let count: Int
    private let release: () -> Void

    /// Copies `bytes` into a 64-byte-aligned allocation of its own.
    init<Bytes: Collection>(copying bytes: Bytes) where Bytes.Element == UInt8 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        let typed = buffer.bindMemory(to: UInt8.self)
        _ = typed.initialize(from: bytes)
        base = UnsafePointer(typed.baseAddress!)
        count = bytes.count
        release = { buffer.deallocate() }
    }

    /// Takes over bytes the caller owns; `release` gives them back.
    init(borrowing bytes: UnsafeRawBufferPointer, release: @escaping () -> Void) {
        // A zero-length buffer may have no address: llamette then reports a bad file.
        base = (bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!).assumingMemoryBound(to: UInt8.self)
        count = bytes.count
        self.release = release
    }

    deinit { release() }
}

/// The version of the linked library and of the header the binding was built with.
public enum LlametteVersion {
    /// The linked library's version (`llamette_version()`).
    public static var library: (major: Int, minor: Int, patch: Int) {
        let v = llamette_version()
        return (Int(v >> 16), Int((v >> 8) & 0xFF), Int(v & 0xFF))
    }

    /// The version of include/llamette.h the binding was compiled against.
    public static var header: (major: Int, minor: Int, patch: Int) {
        (Int(LLAMETTE_VERSION_MAJOR), Int(LLAMETTE_VERSION_MINOR), Int(LLAMETTE_VERSION_PATCH))
    }
}

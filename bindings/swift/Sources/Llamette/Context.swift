import CLlamette
import Foundation

/// Element type of a context's KV cache.
public enum KVCacheType: Sendable, Equatable {
    /// Half precision, as llama.cpp stores it by default.
    case f16
    /// Single precision: twice the memory, no rounding of keys and values.
    case f32

    var cValue: LlametteKvType { self == .f16 ? LLAMETTE_KV_F16 : LLAMETTE_KV_F32 }
}

/// Parameters of a context. `ContextOptions()` has the library's defaults (4096 positions,
/// batches of 512, an f16 KV cache) and runs tasks with `Parallelism.automatic`.
public struct ContextOptions: Sendable, Equatable {
    /// Positions the KV cache holds (prompt plus generated tokens); > 0.
    public var contextLength: Int
    /// Most tokens evaluated in one step; > 0.
    public var batchSize: Int
    /// Element type of the KV cache.
    public var kvCache: KVCacheType
    /// Keep the logits of every position of a batch (`Context.logits(at:)`); a batch may then
    /// hold at most `batchSize` tokens.
    public var logitsAll: Bool
    /// How the context runs its tasks. Results are identical, bit for bit, either way.
    public var parallelism: Parallelism
    /// Keep each output token's hidden state after the final norm too (llama.cpp's
    /// `embeddings`): `Context.embed(_:pooling:normalization:)` and `embedding(at:)` read
    /// them. Each output row costs `4 * embeddingLength` more bytes.
    public var embeddings: Bool
    /// Sequences the context holds at once (1 to 64; they share the `contextLength` cells):
    /// `embed` puts up to this many sequences in one step.
    public var maxSequences: Int
    /// Tokens of one step whose outputs (logits, embeddings) the context keeps; nil:
    /// `batchSize` with `embeddings` or `logitsAll` (every token of a step, as `embed` wants),
    /// `maxSequences` otherwise. Each costs `4 * vocabularySize` bytes.
    public var outputRows: Int?

    public init(
        contextLength: Int? = nil, batchSize: Int? = nil, kvCache: KVCacheType = .f16,
        logitsAll: Bool = false, parallelism: Parallelism = .automatic,
        embeddings: Bool = false, maxSequences: Int = 1, outputRows: Int? = nil
    ) {
        let d = llamette_context_default_params()
        self.contextLength = contextLength ?? Int(d.n_ctx)
        self.batchSize = batchSize ?? Int(d.n_batch)
        self.kvCache = kvCache
        self.logitsAll = logitsAll
        self.parallelism = parallelism
        self.embeddings = embeddings
        self.maxSequences = maxSequences
        self.outputRows = outputRows
    }

    /// The extensible parameters (`llamette_context_new_ex`), `size` set by the library.
    var cValue: LlametteContextParamsEx {
        var p = llamette_context_default_params_ex()
        p.n_ctx = UInt32(clamping: contextLength)
        p.n_batch = UInt32(clamping: batchSize)
        p.kv_type = kvCache.cValue
        p.logits_all = logitsAll
        p.n_seq_max = UInt32(clamping: max(maxSequences, 1))
        if let outputRows {
            p.n_outputs_max = UInt32(clamping: outputRows)
        } else if embeddings {
            p.n_outputs_max = p.n_batch
        }
        p.embeddings = embeddings
        return p
    }
}

/// A context: the KV cache of one sequence, evaluated on one thread at a time. Calls are
/// serialized by a lock (a generation holds it until it ends), so a context may be handed
/// between threads and tasks. Many contexts may share one model.
public final class Context: @unchecked Sendable {
    /// The model (kept alive by the context).
    public let model: Model
    let handle: OpaquePointer
    let lock = NSLock()
    /// The installed `.dispatch` runner, retained while llamette may call it.
    private var runner: DispatchRunner?

    /// Makes a context for `model` (which must have weights, not only a vocabulary).
    public init(model: Model, options: ContextOptions = ContextOptions()) throws {
        var params = options.cValue
        var out: OpaquePointer?
        try check(llamette_context_new_ex(model.handle, &params, &out))
        self.model = model
        handle = out!
        try setParallelism(options.parallelism) // on failure deinit frees the handle
    }

    deinit {
        llamette_context_free(handle)
        // `runner` is released after this, when llamette can no longer call it.
    }

    /// Changes how the context runs its tasks (between generations).
    public func setParallelism(_ parallelism: Parallelism) throws {
        try lock.locked {
            switch parallelism {
            case .serial:
                try check(llamette_context_set_parallel(handle, nil, nil, 1))
                runner = nil
            case .dispatch(let width):
                let newRunner = DispatchRunner()
                let user = Unmanaged.passUnretained(newRunner).toOpaque()
                try check(llamette_context_set_parallel(handle, dispatchParallelFn, user, UInt32(clamping: max(width, 1))))
                runner = newRunner // the old one is released only now that llamette forgot it
            }
        }
    }

    /// How many times llamette handed a batch of tasks to `DispatchQueue.concurrentPerform`,
    /// and how many tasks in all, since the parallelism was last set (zero when serial).
    public var parallelStatistics: (calls: UInt64, tasks: UInt64) {
        lock.locked { () -> (calls: UInt64, tasks: UInt64) in (runner?.calls ?? 0, runner?.tasks ?? 0) }
    }

    /// Positions held in the KV cache.
    public var tokenCount: Int {
        lock.locked { Int(llamette_context_n_past(handle)) }
    }

    /// Evaluates `tokens` at the next positions (in steps of the batch size) and keeps the
    /// logits of the last one (of every one with `logitsAll`).
    public func evaluate(_ tokens: [Token]) throws {
        try lock.locked {
            try tokens.withUnsafeBufferPointer { t in
                try check(llamette_eval(handle, t.baseAddress, t.count))
            }
        }
    }

    /// A copy of the logits after the last evaluated token (one per vocabulary entry).
    public func logits() throws -> [Float] {
        try lock.locked { () throws -> [Float] in
            var logits: UnsafePointer<Float>?
            var count = 0
            try check(llamette_logits(handle, &logits, &count))
            return Array(UnsafeBufferPointer(start: logits, count: count))
        }
    }

    /// A copy of the logits of token `index` of the last evaluated batch (needs `logitsAll`).
    public func logits(at index: Int) throws -> [Float] {
        try lock.locked { () throws -> [Float] in
            var logits: UnsafePointer<Float>?
            var count = 0
            try check(llamette_logits_at(handle, index, &logits, &count))
            return Array(UnsafeBufferPointer(start: logits, count: count))
        }
    }

    /// Forgets the positions from `count` on (to rewind a chat to a shared prefix); 0 clears
    /// the context.
    public func truncate(keeping count: Int) throws {
        try lock.locked { try check(llamette_context_truncate(handle, UInt32(clamping: count))) }
    }

    /// The context's whole state (keys, values and the last logits: `llamette_state_write`),
    /// for `loadState(_:)` into this context or another of the same model.
    public func saveState() throws -> [UInt8] {
        try lock.locked { () throws -> [UInt8] in
            var size = 0
            try check(llamette_state_size(handle, &size))
            var bytes = [UInt8](repeating: 0, count: size)
            var written = 0
            try bytes.withUnsafeMutableBufferPointer { b in
                try check(llamette_state_write(handle, b.baseAddress, b.count, &written))
            }
            return Array(bytes[..<written])
        }
    }

    /// Restores a state from `saveState()` (`llamette_state_read`); a state of another model,
    /// truncated or corrupted throws `LlametteError.badState` and changes nothing.
    public func loadState(_ state: [UInt8]) throws {
        try lock.locked {
            try state.withUnsafeBufferPointer { b in
                try check(llamette_state_read(handle, b.baseAddress, b.count))
            }
        }
    }
}

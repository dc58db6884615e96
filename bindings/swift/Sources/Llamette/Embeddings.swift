import CLlamette
import Foundation

/// How `Context.embed` makes a sequence's embedding from its tokens' rows (llama.cpp's
/// `llama_pooling_type`, `LLAMETTE_POOLING_*`).
public enum Pooling: Sendable, Hashable, CaseIterable {
    /// As an argument: the model's own (`Model.pooling()`, the file's `<arch>.pooling_type`;
    /// `.none` when it names none). Never returned.
    case model
    /// Every token's own row.
    case none
    /// The mean of a sequence's rows.
    case mean
    /// A sequence's first token's row.
    case cls
    /// A sequence's last token's row.
    case last

    var cValue: Int32 {
        switch self {
        case .model: return LLAMETTE_POOLING_MODEL
        case .none: return LLAMETTE_POOLING_NONE
        case .mean: return LLAMETTE_POOLING_MEAN
        case .cls: return LLAMETTE_POOLING_CLS
        case .last: return LLAMETTE_POOLING_LAST
        }
    }

    /// nil for values newer than this binding.
    init?(_ value: Int32) {
        switch value {
        case LLAMETTE_POOLING_NONE: self = .none
        case LLAMETTE_POOLING_MEAN: self = .mean
        case LLAMETTE_POOLING_CLS: self = .cls
        case LLAMETTE_POOLING_LAST: self = .last
        default: return nil
        }
    }
}

/// How `Context.embed` normalizes each vector: llama.cpp's `embd_normalize`.
public enum EmbeddingNormalization: Sendable, Hashable {
    /// The vectors as they are (-1).
    case none
    /// Scaled so that the largest |x| is 32760, the int16 range (0).
    case maxAbs
    /// Unit sum of |x| (1).
    case taxicab
    /// Unit Euclidean length (2, llama.cpp's default).
    case euclidean
    /// Unit p-norm, p > 2.
    case pNorm(Int)

    var cValue: Int32 {
        switch self {
        case .none: return -1
        case .maxAbs: return 0
        case .taxicab: return 1
        case .euclidean: return 2
        case .pNorm(let p): return Int32(clamping: p)
        }
    }
}

extension Model {
    /// The model's pooling (`<arch>.pooling_type`; `.none` when the file names none, as
    /// llama.cpp).
    /// - Throws: `LlametteError.badFile` for a pooling llamette does not have (reranking).
    public func pooling() throws -> Pooling {
        var out: Int32 = 0
        try check(llamette_model_pooling(handle, &out))
        guard let pooling = Pooling(out) else {
            throw LlametteError.unsupported(message: "pooling type \(out)")
        }
        return pooling
    }
}

extension Context {
    /// A copy of the embedding (the hidden state after the final norm,
    /// `model.info.embeddingLength` floats) of token `index` of the last evaluated batch, if
    /// it has outputs (llama.cpp's `llama_get_embeddings_ith`): with `logitsAll`, every token
    /// of the last `evaluate` step. Needs `ContextOptions(embeddings: true)`.
    /// - Throws: `LlametteError.invalidArgument` without embeddings, or when the token has
    ///   none.
    public func embedding(at index: Int) throws -> [Float] {
        try lock.locked { () throws -> [Float] in
            var embd: UnsafePointer<Float>?
            var count = 0
            try check(llamette_embeddings_ith(handle, index, &embd, &count))
            return Array(UnsafeBufferPointer(start: embd, count: count))
        }
    }

    /// Embeds sequences of token ids (each from its own start) as llama.cpp's embeddings do
    /// (`llamette_embed`). The context (made with `ContextOptions(embeddings: true)`) is
    /// cleared before and after; sequences go in steps of up to `maxSequences` sequences and
    /// as many tokens as it keeps outputs for (`outputRows`), longer ones in several steps.
    ///
    /// - Returns: one row of `model.info.embeddingLength` floats per sequence; with `.none`
    ///   pooling (also when `.model` resolves to it), one per token, sequence after sequence.
    /// - Throws: `LlametteError.invalidArgument` without embeddings or for an empty sequence;
    ///   `.contextFull` for a sequence longer than the context; `.badToken`.
    public func embed(
        _ sequences: [[Token]], pooling: Pooling = .model, normalization: EmbeddingNormalization = .none
    ) throws -> [[Float]] {
        var resolved = pooling
        if resolved == .model { resolved = try model.pooling() }
        if sequences.isEmpty { return [] }
        let width = model.info.embeddingLength
        let total = sequences.reduce(0) { $0 + $1.count }
        let rowCount = resolved == Pooling.none ? total : sequences.count
        // The ids of all sequences in one block, and a pointer into it per sequence.
        let ids = UnsafeMutablePointer<Token>.allocate(capacity: max(total, 1))
        defer { ids.deallocate() }
        var starts: [UnsafePointer<Token>?] = []
        var lengths: [Int] = []
        var offset = 0
        for sequence in sequences {
            sequence.withUnsafeBufferPointer { s in
                if let base = s.baseAddress { (ids + offset).initialize(from: base, count: s.count) }
            }
            starts.append(UnsafePointer(ids + offset))
            lengths.append(sequence.count)
            offset += sequence.count
        }
        var flat = [Float](repeating: 0, count: rowCount * width)
        var written = 0
        try lock.locked {
            try flat.withUnsafeMutableBufferPointer { out in
                try check(llamette_embed(
                    handle, starts, lengths, sequences.count, resolved.cValue, normalization.cValue,
                    out.baseAddress, out.count, &written))
            }
        }
        precondition(written == flat.count, "llamette_embed wrote \(written) floats, \(flat.count) expected")
        return (0..<rowCount).map { Array(flat[$0 * width..<($0 + 1) * width]) }
    }
}

import CLlamette

/// A vocabulary's special tokens and flags, as llama.cpp's `llama_vocab_bos`, `_eos`, ...
/// resolve them (`llamette_vocab_info`); nil where the vocabulary has none.
public struct VocabularyInfo: Sendable, Equatable {
    /// Tokens in the vocabulary.
    public var tokenCount: Int
    /// Beginning of sequence.
    public var bos: Token?
    /// End of sequence.
    public var eos: Token?
    /// End of turn (`<|eot_id|>`, `<|im_end|>`, CodeLlama's `<EOT>`, ...).
    public var eot: Token?
    /// End of message (`<|eom_id|>`).
    public var eom: Token?
    /// Unknown.
    public var unknown: Token?
    /// Separator.
    public var separator: Token?
    /// Padding.
    public var padding: Token?
    /// Mask.
    public var mask: Token?
    /// The token of a lone newline.
    public var newline: Token?
    /// Fill-in-the-middle prefix (`<PRE>`, `<|fim_prefix|>`, ...).
    public var fimPrefix: Token?
    /// Fill-in-the-middle suffix.
    public var fimSuffix: Token?
    /// Fill-in-the-middle middle.
    public var fimMiddle: Token?
    /// Fill-in-the-middle padding.
    public var fimPadding: Token?
    /// Fill-in-the-middle repository name.
    public var fimRepository: Token?
    /// Fill-in-the-middle file separator.
    public var fimSeparator: Token?
    /// Whether tokenizing with `addSpecial` puts BOS in front (`llama_vocab_get_add_bos`).
    public var addsBOS: Bool
    /// Whether tokenizing with `addSpecial` appends EOS (`llama_vocab_get_add_eos`).
    public var addsEOS: Bool
    /// Whether SentencePiece text gets a space in front.
    public var addsSpacePrefix: Bool

    init(_ raw: LlametteVocabInfo) {
        func token(_ id: Int32) -> Token? { id < 0 ? nil : Token(id) }
        tokenCount = Int(raw.n_tokens)
        bos = token(raw.bos)
        eos = token(raw.eos)
        eot = token(raw.eot)
        eom = token(raw.eom)
        unknown = token(raw.unk)
        separator = token(raw.sep)
        padding = token(raw.pad)
        mask = token(raw.mask)
        newline = token(raw.nl)
        fimPrefix = token(raw.fim_pre)
        fimSuffix = token(raw.fim_suf)
        fimMiddle = token(raw.fim_mid)
        fimPadding = token(raw.fim_pad)
        fimRepository = token(raw.fim_rep)
        fimSeparator = token(raw.fim_sep)
        addsBOS = raw.add_bos
        addsEOS = raw.add_eos
        addsSpacePrefix = raw.add_space_prefix
    }
}

/// A token's attributes (llama.cpp's `llama_token_attr` bits, `LLAMETTE_TOKEN_ATTR_*`; the
/// values are the header's, which scripts/import_check.m checks). The empty set is
/// `LLAMETTE_TOKEN_ATTR_UNDEFINED`.
public struct TokenAttributes: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The unknown token.
    public static let unknown = TokenAttributes(rawValue: 1 << 0)
    /// An unused (reserved) token.
    public static let unused = TokenAttributes(rawValue: 1 << 1)
    /// An ordinary token.
    public static let normal = TokenAttributes(rawValue: 1 << 2)
    /// A control token (BOS, EOS, chat markers).
    public static let control = TokenAttributes(rawValue: 1 << 3)
    /// A user-defined token (always matched in raw text).
    public static let userDefined = TokenAttributes(rawValue: 1 << 4)
    /// A byte-fallback token (`<0xAB>`).
    public static let byte = TokenAttributes(rawValue: 1 << 5)
    /// Normalized.
    public static let normalized = TokenAttributes(rawValue: 1 << 6)
    /// Whitespace on its left is dropped when matched as a special token.
    public static let lstrip = TokenAttributes(rawValue: 1 << 7)
    /// Whitespace on its right is dropped when matched as a special token.
    public static let rstrip = TokenAttributes(rawValue: 1 << 8)
    /// Single word.
    public static let singleWord = TokenAttributes(rawValue: 1 << 9)

    private static let named: [(TokenAttributes, String)] = [
        (.unknown, "unknown"), (.unused, "unused"), (.normal, "normal"), (.control, "control"),
        (.userDefined, "user_defined"), (.byte, "byte"), (.normalized, "normalized"),
        (.lstrip, "lstrip"), (.rstrip, "rstrip"), (.singleWord, "single_word"),
    ]

    /// llama.cpp's names of the set bits, in bit order ("normal", "control", "user_defined",
    /// ...); empty for no attribute.
    public var names: [String] { Self.named.filter { contains($0.0) }.map { $0.1 } }

    public var description: String { isEmpty ? "undefined" : names.joined(separator: "|") }
}

/// One extra file of a fill-in-the-middle prompt's repository context.
public struct InfillChunk: Sendable, Hashable {
    /// The file's name; nil: llama.cpp's "tmp".
    public var filename: String?
    /// The file's text.
    public var text: String

    public init(filename: String? = nil, text: String) {
        self.filename = filename
        self.text = text
    }
}

/// How `Model.infillTokens` trims, as llama.cpp's server does for `/infill` (its `n_batch`,
/// `n_predict` and `n_ctx`), and whether the suffix comes first. `InfillOptions()` is the
/// server's defaults (`llamette_infill_default_params`).
public struct InfillOptions: Sendable, Equatable {
    /// The batch the prefix and suffix must fit in (default 2048).
    public var batchSize: Int
    /// Tokens to be generated; nil: no limit (llama.cpp's -1, the default).
    public var maxTokens: Int?
    /// The context's positions (default 4096).
    public var contextLength: Int
    /// Suffix before prefix (llama.cpp's `--spm-infill`).
    public var suffixFirst: Bool

    public init(batchSize: Int? = nil, maxTokens: Int? = nil, contextLength: Int? = nil, suffixFirst: Bool = false) {
        let d = llamette_infill_default_params()
        self.batchSize = batchSize ?? Int(d.n_batch)
        self.maxTokens = maxTokens ?? (d.n_predict < 0 ? nil : Int(d.n_predict))
        self.contextLength = contextLength ?? Int(d.n_ctx)
        self.suffixFirst = suffixFirst
    }

    var cValue: LlametteInfillParams {
        var p = llamette_infill_default_params()
        p.n_batch = UInt32(clamping: batchSize)
        p.n_predict = maxTokens.map { Int32(clamping: $0) } ?? -1
        p.n_ctx = UInt32(clamping: contextLength)
        p.spm_infill = suffixFirst
        return p
    }
}

extension Model {
    /// The vocabulary's special tokens and flags.
    public func vocabularyInfo() throws -> VocabularyInfo {
        var raw = LlametteVocabInfo()
        raw.size = MemoryLayout<LlametteVocabInfo>.size
        try check(llamette_vocab_info(handle, &raw))
        return VocabularyInfo(raw)
    }

    /// `token`'s attributes (`llama_vocab_get_attr`).
    /// - Throws: `LlametteError.badToken` for a token outside the vocabulary.
    public func attributes(of token: Token) throws -> TokenAttributes {
        var out: UInt32 = 0
        try check(llamette_token_attr(handle, token, &out))
        return TokenAttributes(rawValue: out)
    }

    /// The end-of-generation tokens, ascending (llama.cpp's `llama_vocab_is_eog` set: EOS,
    /// EOT, EOM, the FIM padding, repository and separator tokens, `<|im_end|>`-like tokens).
    public func endOfGenerationTokens() throws -> [Token] {
        try readArray(guess: 8) { ids, cap, n in llamette_vocab_eog_tokens(handle, ids, cap, n) }
    }

    /// The tokens that end a filled-in middle, ascending (the end-of-generation tokens,
    /// CodeLlama's `<EOT>`, the FIM padding, repository and file-separator tokens): stop
    /// generating from `infillTokens` at these.
    public func infillStopTokens() throws -> [Token] {
        try readArray(guess: 8) { ids, cap, n in llamette_infill_stop_tokens(handle, ids, cap, n) }
    }

    /// The prompt ids for completing the code between `prefix` and `suffix`, in the layout of
    /// llama.cpp's `/infill` (`format_prompt_infill`): `[extra context] [BOS] PRE prefix
    /// prompt SUF suffix MID` with the vocabulary's FIM tokens, trimmed as the server trims.
    /// Generate from them (`.tokens(ids)`, `stopTokens: infillStopTokens()`).
    /// - Parameters:
    ///   - extra: repository files for context.
    ///   - prompt: ids put after the prefix (usually none).
    /// - Throws: `LlametteError.invalidArgument` for a vocabulary without FIM prefix, suffix or
    ///   middle tokens; `.badToken` for a prompt id outside the vocabulary.
    public func infillTokens(
        prefix: String, suffix: String, extra: [InfillChunk] = [], prompt: [Token] = [],
        options: InfillOptions = InfillOptions()
    ) throws -> [Token] {
        let arena = CStringArena()
        let pre = arena.copy(prefix)
        let suf = arena.copy(suffix)
        let chunks = extra.map { chunk -> LlametteInfillChunk in
            let name = chunk.filename.map { arena.copy($0) }
            let text = arena.copy(chunk.text)
            return LlametteInfillChunk(filename: name?.pointer, filename_len: name?.count ?? 0, text: text.pointer, text_len: text.count)
        }
        var params = options.cValue
        return try withExtendedLifetime(arena) { () -> [Token] in
            try chunks.withUnsafeBufferPointer { c -> [Token] in
                try prompt.withUnsafeBufferPointer { p -> [Token] in
                    try readArray(guess: pre.count + suf.count + prompt.count + 16) { ids, cap, n in
                        llamette_infill_tokens(
                            handle, pre.pointer, pre.count, suf.pointer, suf.count, c.baseAddress, c.count,
                            p.baseAddress, p.count, &params, ids, cap, n)
                    }
                }
            }
        }
    }
}

import CLlamette
import Foundation

/// A token's log-probability (natural log) and the most likely tokens at its step, most likely
/// first (ties: lower id first). The distribution is the softmax of the model's logits (with
/// the sampler's logit biases, in generation), before penalties, grammar, truncation and
/// temperature: what llama.cpp's server, llama-cpp-python and OpenAI report.
///
/// `logprob` is NaN where there is nothing to report: a generation's `onToken` without
/// `GenerationOptions.logprobs`, and the first token of `Context.promptLogprobs` on an empty
/// context. A token banned by a bias of `-Float.infinity` has `-Float.infinity`.
public struct TokenLogprob: Sendable, Equatable {
    /// A token with its log-probability.
    public struct Alternative: Sendable, Equatable {
        public var token: Token
        public var logprob: Float

        public init(token: Token, logprob: Float) {
            self.token = token
            self.logprob = logprob
        }
    }

    /// The most alternatives an entry carries (`LLAMETTE_MAX_TOP_LOGPROBS`, OpenAI's and
    /// llama-cpp-python's limit).
    public static let maxAlternatives = Int(LLAMETTE_MAX_TOP_LOGPROBS)

    public var token: Token
    public var logprob: Float
    /// At most the number asked for (and `maxAlternatives`).
    public var top: [Alternative]

    public init(token: Token, logprob: Float, top: [Alternative]) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }

    /// Copies the library's entry (valid only during the call that gave it).
    init(_ c: LlametteTokenLogprob) {
        var c = c
        let n = min(Int(c.n_top), TokenLogprob.maxAlternatives)
        // The fixed-size C arrays import as tuples: read them through their bytes.
        let tokens = withUnsafeBytes(of: &c.top_tokens) { Array($0.bindMemory(to: UInt32.self).prefix(n)) }
        let logprobs = withUnsafeBytes(of: &c.top_logprobs) { Array($0.bindMemory(to: Float.self).prefix(n)) }
        self.init(
            token: c.token, logprob: c.logprob,
            top: (0..<n).map { Alternative(token: tokens[$0], logprob: logprobs[$0]) })
    }
}

/// What a context has evaluated since it was made or since `Context.resetPerf()` (llama.cpp's
/// `llama_perf_context_data`). An evaluation of one token (each generated token included)
/// counts in `eval` and `evalCount`; one of more tokens (a prompt) counts its tokens in
/// `promptTokenCount` and its time in `promptEval`. Failed calls count nothing. Unlike
/// llama.cpp, which reports at least 1, the counts are exact.
public struct PerfData: Sendable, Equatable {
    /// When counting started (wall clock).
    public var start: Date
    /// Always 0: llamette does not time loading.
    public var load: TimeInterval
    /// Seconds spent in evaluations of more than one token.
    public var promptEval: TimeInterval
    /// Seconds spent in evaluations of one token.
    public var eval: TimeInterval
    /// Tokens evaluated by evaluations of more than one token (`n_p_eval`).
    public var promptTokenCount: Int
    /// Evaluations of one token (`n_eval`).
    public var evalCount: Int
    /// Prompt tokens kept by `reusePrefix` instead of being evaluated again (`n_reused`).
    public var reusedTokenCount: Int

    init(_ d: LlamettePerfContextData) {
        start = Date(timeIntervalSince1970: d.t_start_ms / 1000)
        load = d.t_load_ms / 1000
        promptEval = d.t_p_eval_ms / 1000
        eval = d.t_eval_ms / 1000
        promptTokenCount = Int(d.n_p_eval)
        evalCount = Int(d.n_eval)
        reusedTokenCount = Int(d.n_reused)
    }
}

extension Context {
    /// Evaluates `tokens` after what the context holds (in steps of the batch size) and
    /// returns, for each, its log-probability given everything before it with its `top` most
    /// likely alternatives (0 to `TokenLogprob.maxAlternatives`; more is clamped): the prompt
    /// logprobs of llama-cpp-python's `echo=True` (`llamette_prompt_logprobs`, without logit
    /// biases). On an empty context nothing predicts `tokens[0]`: its entry has a NaN
    /// `logprob` and no alternatives. Afterwards the context holds the tokens and its logits
    /// are the last one's, so generation continues from an empty prompt (`accept` the tokens
    /// in its sampler first, for the penalties).
    /// - Throws: `LlametteError.invalidArgument` without `ContextOptions.logitsAll` or for no
    ///   tokens; `.badToken`; `.contextFull`. On failure the context holds what it held plus
    ///   the steps evaluated before the failure.
    public func promptLogprobs(_ tokens: [Token], top: Int = 0) throws -> [TokenLogprob] {
        if tokens.isEmpty { throw LlametteError.invalidArgument(message: "promptLogprobs: no tokens") }
        return try lock.locked { () throws -> [TokenLogprob] in
            var out = [LlametteTokenLogprob](repeating: LlametteTokenLogprob(), count: tokens.count)
            try tokens.withUnsafeBufferPointer { t in
                try out.withUnsafeMutableBufferPointer { o in
                    try check(llamette_prompt_logprobs(
                        handle, t.baseAddress, t.count, UInt32(clamping: top), nil, nil, 0, o.baseAddress))
                }
            }
            return out.map { TokenLogprob($0) }
        }
    }

    /// The log-probability of `token` under the context's last logits (the distribution after
    /// the last evaluated token, without logit biases), with the `top` most likely tokens
    /// (`llamette_token_logprobs`): call it after sampling a token and before evaluating it.
    /// - Throws: `LlametteError.invalidArgument` when the context has no logits yet,
    ///   `.badToken` for a token outside the vocabulary.
    public func tokenLogprob(_ token: Token, top: Int = 0) throws -> TokenLogprob {
        try lock.locked { () throws -> TokenLogprob in
            var out = LlametteTokenLogprob()
            try check(llamette_token_logprobs(handle, token, UInt32(clamping: top), nil, nil, 0, &out))
            return TokenLogprob(out)
        }
    }

    /// The context's counters (`llamette_perf_context`, llama.cpp's `llama_perf_context`).
    public func perf() throws -> PerfData {
        try lock.locked { () throws -> PerfData in
            var d = LlamettePerfContextData()
            try check(llamette_perf_context(handle, &d))
            return PerfData(d)
        }
    }

    /// Zeroes the counters and starts counting again from now (`llamette_perf_context_reset`);
    /// the cache and logits stay as they are.
    public func resetPerf() throws {
        try lock.locked { try check(llamette_perf_context_reset(handle)) }
    }
}

import CLlamette
import Foundation

/// What to generate from.
public enum Prompt: Sendable, Hashable {
    /// Text, tokenized with BOS where the vocabulary wants it and control tokens taken as
    /// plain text. (To parse `<|im_start|>` and friends, tokenize yourself and pass `.tokens`.)
    case text(String)
    /// Token ids, evaluated as they are; empty continues from the context's last logits.
    case tokens([Token])
    /// A conversation rendered in `format` (nil: the model's own) with the assistant's header
    /// at the end; the format's end-of-turn tokens are added to the stop tokens.
    case chat([ChatMessage], format: ChatFormat? = nil)
}

/// When generation stops (besides the model's end-of-generation tokens and a full context),
/// and how it samples.
public struct GenerationOptions: Sendable, Equatable {
    /// Tokens to generate at most; nil: until another rule stops.
    public var maxTokens: Int?
    /// Strings that end generation when they appear in the text; they and what follows are
    /// not handed out.
    public var stopStrings: [String]
    /// Extra tokens that end generation.
    public var stopTokens: [Token]
    /// Sampling parameters, for the calls that make their own sampler.
    public var sampling: SamplingOptions
    /// A grammar for the calls that make their own sampler (`Sampler.setGrammar`); with a
    /// sampler given, set it on that one.
    public var grammar: Grammar?
    /// Log-probabilities: nil (the default) none; n (0 to `TokenLogprob.maxAlternatives`, more
    /// is clamped): each generated token's log-probability with its n most likely
    /// alternatives, handed to `onToken` and collected in `GenerationSummary.logprobs` (OpenAI's
    /// `logprobs` with `top_logprobs: n`). From the model's logits with the sampler's logit
    /// biases, before penalties, grammar, truncation and temperature: what llama.cpp's server
    /// and llama-cpp-python report.
    public var logprobs: Int?
    /// Take the prompt as the whole sequence: the longest start of it the context already
    /// holds (at most all but its last token) is kept and only the rest evaluated
    /// (`GenerationSummary.reusedTokens`). The prompt must not be empty.
    public var reusePrefix: Bool

    public init(
        maxTokens: Int? = nil, stopStrings: [String] = [], stopTokens: [Token] = [],
        sampling: SamplingOptions = SamplingOptions(), grammar: Grammar? = nil,
        logprobs: Int? = nil, reusePrefix: Bool = false
    ) {
        self.maxTokens = maxTokens
        self.stopStrings = stopStrings
        self.stopTokens = stopTokens
        self.sampling = sampling
        self.grammar = grammar
        self.logprobs = logprobs
        self.reusePrefix = reusePrefix
    }
}

/// Why generation stopped.
public enum StopReason: Sendable, Equatable {
    /// `maxTokens` tokens were generated.
    case length
    /// An end-of-generation token (the model's or a stop token) was sampled.
    case endOfGeneration
    /// A stop string appeared in the text.
    case stopString
    /// The context has no room for another token.
    case contextFull
    /// The piece callback returned false.
    case callback
    /// The abort flag was raised.
    case aborted
    /// The sampler's grammar allows no token; the message says why. (A grammar that is
    /// complete ends with `endOfGeneration`.)
    case grammar(String)

    /// Reads `llamette_last_error()` for `.grammar`: call it right after the generation, on
    /// its thread.
    init(_ reason: LlametteStopReason) {
        switch reason {
        case LLAMETTE_STOP_LENGTH: self = .length
        case LLAMETTE_STOP_EOG: self = .endOfGeneration
        case LLAMETTE_STOP_STRING: self = .stopString
        case LLAMETTE_STOP_CONTEXT_FULL: self = .contextFull
        case LLAMETTE_STOP_CALLBACK: self = .callback
        case LLAMETTE_STOP_GRAMMAR: self = .grammar(String(cString: llamette_last_error()))
        default: self = .aborted
        }
    }
}

/// The outcome of a generation.
public struct GenerationSummary: Sendable, Equatable {
    /// Why it stopped.
    public var stopReason: StopReason
    /// Tokens generated (evaluated; an end-of-generation token is not counted).
    public var generatedTokens: Int
    /// With `GenerationOptions.logprobs`: each generated token's entry (those `onToken`
    /// received), in order; empty otherwise.
    public var logprobs: [TokenLogprob] = []
    /// With `GenerationOptions.reusePrefix`: the prompt's first tokens the context already held.
    public var reusedTokens: Int = 0
}

/// A flag another thread raises to stop a generation before its next token (the C API's
/// `abort_flag`, stored and loaded atomically).
public final class AbortFlag: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt32>

    public init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: 0)
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }

    /// Asks the generation to stop; safe from any thread.
    public func raise() { cllamette_abort_flag_store(pointer, 1) }

    /// Lowers the flag again, for the next generation.
    public func clear() { cllamette_abort_flag_store(pointer, 0) }

    /// Whether the flag is raised.
    public var isRaised: Bool { cllamette_abort_flag_load(pointer) != 0 }
}

/// Holds the piece closure for the C callback, which finds it through `user`.
private final class PieceSink {
    let body: (String) -> Bool
    init(_ body: @escaping (String) -> Bool) { self.body = body }
}

/// The `LlamettePieceFn`: a C function pointer that reaches the Swift closure through `user`.
private let pieceFn: LlamettePieceFn = { user, text, count in
    guard let user else { return true }
    let sink = Unmanaged<PieceSink>.fromOpaque(user).takeUnretainedValue()
    return sink.body(makeString(text, count))
}

/// Holds the token closure, and the entries collected, for the C token callback (through
/// `token_user`).
private final class TokenSink {
    let body: ((TokenLogprob) -> Bool)?
    let collect: Bool
    var entries: [TokenLogprob] = []
    init(_ body: ((TokenLogprob) -> Bool)?, collect: Bool) {
        self.body = body
        self.collect = collect
    }
}

/// The `LlametteTokenFn`: a C function pointer that reaches the Swift closure through `user`.
private let tokenFn: LlametteTokenFn = { user, token, logprob in
    guard let user else { return true }
    let sink = Unmanaged<TokenSink>.fromOpaque(user).takeUnretainedValue()
    let entry = logprob.map { TokenLogprob($0.pointee) } ?? TokenLogprob(token: token, logprob: .nan, top: [])
    if sink.collect { sink.entries.append(entry) }
    return sink.body?(entry) ?? true
}

extension Context {
    /// Generates synchronously from `prompt` with `sampler`, handing each piece of text to
    /// `onPiece` (return false to stop) on the calling thread. Blocks until it stops.
    /// - Parameters:
    ///   - prompt: tokens to evaluate first (also recorded in the sampler's history); empty to
    ///     continue from the context's last logits. With `options.reusePrefix`, the whole
    ///     sequence.
    ///   - options: the stop rules, `logprobs` and `reusePrefix` (`options.sampling` is not
    ///     used: the sampler is given).
    ///   - abortFlag: raise it from another thread to stop before the next token.
    ///   - onToken: receives each generated token as it is chosen, before its text (which may
    ///     be held back while it could begin a stop string), also the token that completes a
    ///     stop string, never the end-of-generation token that stops; with `options.logprobs`
    ///     its log-probabilities, otherwise `logprob` is NaN and `top` empty. Return false to
    ///     stop after this token, whose text is still handed out (`.callback`). It must not use
    ///     this context or sampler.
    @discardableResult
    public func generate(
        _ prompt: [Token], sampler: Sampler, options: GenerationOptions = GenerationOptions(),
        abortFlag: AbortFlag? = nil, onToken: ((TokenLogprob) -> Bool)? = nil, onPiece: (String) -> Bool
    ) throws -> GenerationSummary {
        let arena = CStringArena()
        var stopStrings: [UnsafePointer<CChar>?] = []
        var stopLengths: [Int] = []
        for string in options.stopStrings {
            let copy = arena.copy(string)
            stopStrings.append(copy.pointer)
            stopLengths.append(copy.count)
        }
        var reason = LLAMETTE_STOP_LENGTH
        var generated: UInt32 = 0
        var reused = 0
        let tokenSink = TokenSink(onToken, collect: options.logprobs != nil)
        let tokenUser = Unmanaged.passUnretained(tokenSink).toOpaque()
        let wantTokens = onToken != nil || options.logprobs != nil
        let maxTop = Int(LLAMETTE_MAX_TOP_LOGPROBS)

        let status: LlametteStatus = withoutActuallyEscaping(onPiece) { body -> LlametteStatus in
            let sink = PieceSink(body)
            let user = Unmanaged.passUnretained(sink).toOpaque()
            // Lock order everywhere: context, then sampler.
            return lock.locked {
                sampler.lock.locked {
                    withExtendedLifetime((sink, tokenSink, arena, abortFlag)) {
                        options.stopTokens.withUnsafeBufferPointer { tokens in
                            stopStrings.withUnsafeBufferPointer { strings in
                                stopLengths.withUnsafeBufferPointer { lengths in
                                    prompt.withUnsafeBufferPointer { (promptIds: UnsafeBufferPointer<Token>) -> LlametteStatus in
                                        var params = llamette_generate_default_params_ex()
                                        params.base.n_predict = options.maxTokens.map { Int32(clamping: $0) } ?? -1
                                        params.base.stop_tokens = tokens.baseAddress
                                        params.base.n_stop_tokens = tokens.count
                                        params.base.stop_strings = strings.baseAddress
                                        params.base.stop_string_lens = lengths.baseAddress
                                        params.base.n_stop_strings = strings.count
                                        params.base.abort_flag = abortFlag.map { UnsafePointer($0.pointer) }
                                        params.reuse_prefix = options.reusePrefix
                                        params.n_logprobs = options.logprobs.map { Int32(min(max($0, 0), maxTop)) } ?? -1
                                        if wantTokens {
                                            params.on_token = tokenFn
                                            params.token_user = tokenUser
                                        }
                                        return llamette_generate_ex(
                                            handle, sampler.handle, promptIds.baseAddress, promptIds.count,
                                            &params, pieceFn, user, &reason, &generated, &reused)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        try check(status)
        // Right after the call, on its thread: `.grammar` reads llamette_last_error().
        return GenerationSummary(
            stopReason: StopReason(reason), generatedTokens: Int(generated),
            logprobs: tokenSink.entries, reusedTokens: reused)
    }

    /// Generates synchronously from `prompt` with a new sampler made from `options.sampling`
    /// (see `generate(_:sampler:options:abortFlag:onToken:onPiece:)`).
    @discardableResult
    public func generate(
        _ prompt: Prompt, options: GenerationOptions = GenerationOptions(),
        abortFlag: AbortFlag? = nil, onToken: ((TokenLogprob) -> Bool)? = nil, onPiece: (String) -> Bool
    ) throws -> GenerationSummary {
        let (ids, resolved) = try resolve(prompt, options)
        let sampler = try Sampler(model: model, options: options)
        return try generate(ids, sampler: sampler, options: resolved, abortFlag: abortFlag, onToken: onToken, onPiece: onPiece)
    }

    /// Streams the text generated from `prompt` with a new sampler made from
    /// `options.sampling`. Generation runs on a background thread of its own; cancelling the
    /// task that iterates the stream (or dropping the stream) raises the abort flag, and
    /// generation stops before its next token. Errors end the stream as `LlametteError`s.
    ///
    /// ```swift
    /// for try await piece in context.generate(.chat([.user("Hi!")])) {
    ///     print(piece, terminator: "")
    /// }
    /// ```
    public func generate(_ prompt: Prompt, options: GenerationOptions = GenerationOptions()) -> AsyncThrowingStream<String, Error> {
        stream { context, abortFlag, onPiece in
            let (ids, resolved) = try context.resolve(prompt, options)
            let sampler = try Sampler(model: context.model, options: options)
            return try context.generate(ids, sampler: sampler, options: resolved, abortFlag: abortFlag, onPiece: onPiece)
        }
    }

    /// Streams the text generated from `prompt` with `sampler` (which keeps its history
    /// across calls), as `generate(_:options:)` does.
    public func generate(_ prompt: [Token], sampler: Sampler, options: GenerationOptions = GenerationOptions()) -> AsyncThrowingStream<String, Error> {
        stream { context, abortFlag, onPiece in
            try context.generate(prompt, sampler: sampler, options: options, abortFlag: abortFlag, onPiece: onPiece)
        }
    }

    /// The prompt's tokens, and the options with the chat format's stop tokens added.
    private func resolve(_ prompt: Prompt, _ options: GenerationOptions) throws -> ([Token], GenerationOptions) {
        switch prompt {
        case .text(let text):
            return (try model.tokenize(text, addSpecial: true, parseSpecial: false), options)
        case .tokens(let ids):
            return (ids, options)
        case .chat(let messages, let format):
            var resolved = options
            resolved.stopTokens += try model.chatStopTokens(format: format)
            return (try model.chatTokens(messages, format: format, addAssistant: true), resolved)
        }
    }

    /// Runs `run` on a thread of its own, feeding the stream; cancellation raises the flag.
    private func stream(
        _ run: @escaping @Sendable (Context, AbortFlag, (String) -> Bool) throws -> GenerationSummary
    ) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream(String.self, bufferingPolicy: .unbounded) { continuation in
            let abortFlag = AbortFlag()
            continuation.onTermination = { @Sendable termination in
                if case .cancelled = termination { abortFlag.raise() }
            }
            let thread = Thread { [self] in
                do {
                    _ = try run(self, abortFlag) { piece in
                        if case .terminated = continuation.yield(piece) { return false }
                        return true
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.name = "llamette.generate"
            thread.stackSize = 8 << 20 // as a main thread's; GCD's default is smaller
            thread.start()
        }
    }
}

extension Sampler {
    /// A sampler made from `options.sampling`, constrained by `options.grammar` if any.
    convenience init(model: Model, options: GenerationOptions) throws {
        try self.init(model: model, options: options.sampling)
        if let grammar = options.grammar { try setGrammar(grammar) }
    }
}

import CLlamette
import Foundation

/// Sampling parameters: llama.cpp's chain (`common_sampler`): logit bias, penalties, DRY,
/// top-n-sigma, top-k, typical-p, top-p, min-p, XTC, temperature (dynamic with
/// `dynatempRange > 0`), the seeded draw; with `mirostat` 1 or 2: logit bias, temperature,
/// mirostat (which draws). `SamplingOptions()` has llama.cpp's defaults, read from the library
/// (`llamette_sampler_default_params_ex`), with every extra stage off; the values are passed as
/// they are.
public struct SamplingOptions: Sendable, Equatable {
    /// Seeds the random number generator; same seed, same logits: same tokens.
    public var seed: UInt64
    /// Keep the `topK` most likely tokens; 0 keeps all.
    public var topK: Int
    /// Keep the most likely tokens up to this cumulative probability; 1 disables it.
    public var topP: Float
    /// Drop tokens less likely than `minP` times the most likely one; 0 disables it.
    public var minP: Float
    /// Temperature; `<= 0` picks the most likely token (greedy).
    public var temperature: Float
    /// How many recent tokens the penalties look at; 0 disables the penalties.
    public var penaltyLastN: Int
    /// Repeat penalty (1: off); finite and > 0.
    public var repeatPenalty: Float
    /// Frequency penalty per occurrence (0: off).
    public var frequencyPenalty: Float
    /// Presence penalty (0: off).
    public var presencePenalty: Float
    /// Top-p, min-p, typical-p and XTC keep at least this many candidates.
    public var minKeep: Int

    /// Locally typical sampling's cumulative probability; 1 (the default) or more disables it.
    public var typicalP: Float
    /// Keep the logits within `topNSigma` standard deviations of the largest; `<= 0` (the
    /// default -1) disables it.
    public var topNSigma: Float
    /// XTC: the chance per step of removing the most likely tokens (all but the least likely
    /// of those at or above `xtcThreshold`); 0 (the default) disables it.
    public var xtcProbability: Float
    /// XTC: the probability from which a token counts as a top choice (default 0.1; above 0.5
    /// disables XTC).
    public var xtcThreshold: Float
    /// Dynamic temperature: the temperature ranges over `temperature ± dynatempRange` by the
    /// normalised entropy; 0 (the default) disables it.
    public var dynatempRange: Float
    /// Dynamic temperature's exponent (default 1).
    public var dynatempExponent: Float
    /// 0: the chain above (default); 1: mirostat; 2: mirostat 2.0. Other values are refused.
    public var mirostat: Int
    /// Mirostat's target surprise (default 5; 0 keeps only the most likely token).
    public var mirostatTau: Float
    /// Mirostat's learning rate (default 0.1).
    public var mirostatEta: Float
    /// DRY ("don't repeat yourself") multiplier; 0 (the default) disables DRY.
    public var dryMultiplier: Float
    /// DRY's base (default 1.75; below 1 disables DRY).
    public var dryBase: Float
    /// DRY penalises a token that would make a repetition longer than this (default 2).
    public var dryAllowedLength: Int
    /// How many recent tokens DRY searches (default 64; 0 disables DRY).
    public var dryPenaltyLastN: Int
    /// DRY's sequence breakers: a token containing one is never penalised and no repetition
    /// spans it. nil (the default): llama.cpp's `"\n"`, `":"`, `"\""`, `"*"`; empty: none.
    public var drySequenceBreakers: [String]?

    /// llama.cpp's defaults: seed 0xFFFFFFFF, top-k 40, top-p 0.95, min-p 0.05, temperature
    /// 0.8, penalties over the last 64 tokens all off.
    public init() {
        let d = llamette_sampler_default_params()
        seed = d.seed
        topK = Int(d.top_k)
        topP = d.top_p
        minP = d.min_p
        temperature = d.temp
        penaltyLastN = Int(d.penalty_last_n)
        repeatPenalty = d.penalty_repeat
        frequencyPenalty = d.penalty_freq
        presencePenalty = d.penalty_present
        minKeep = Int(d.min_keep)
        let x = llamette_sampler_default_params_ex()
        typicalP = x.typ_p
        topNSigma = x.top_n_sigma
        xtcProbability = x.xtc_probability
        xtcThreshold = x.xtc_threshold
        dynatempRange = x.dynatemp_range
        dynatempExponent = x.dynatemp_exponent
        mirostat = Int(x.mirostat)
        mirostatTau = x.mirostat_tau
        mirostatEta = x.mirostat_eta
        dryMultiplier = x.dry_multiplier
        dryBase = x.dry_base
        dryAllowedLength = Int(x.dry_allowed_length)
        dryPenaltyLastN = Int(x.dry_penalty_last_n)
        drySequenceBreakers = nil // x.dry_sequence_breakers is NULL: the defaults
    }

    /// Always the most likely token (temperature 0), otherwise the defaults.
    public static var greedy: SamplingOptions {
        var options = SamplingOptions()
        options.temperature = 0
        return options
    }

    var cValue: LlametteSamplerParams {
        var p = llamette_sampler_default_params()
        p.seed = seed
        p.top_k = UInt32(clamping: topK)
        p.top_p = topP
        p.min_p = minP
        p.temp = temperature
        p.penalty_last_n = UInt32(clamping: penaltyLastN)
        p.penalty_repeat = repeatPenalty
        p.penalty_freq = frequencyPenalty
        p.penalty_present = presencePenalty
        p.min_keep = UInt32(clamping: minKeep)
        return p
    }

    /// Runs `body` with the extensible parameters; the breakers (copied into an arena) stay
    /// valid during the call, which copies them.
    func withCValue<R>(_ body: (UnsafePointer<LlametteSamplerParamsEx>) throws -> R) throws -> R {
        var p = llamette_sampler_default_params_ex()
        p.base = cValue
        p.typ_p = typicalP
        p.top_n_sigma = topNSigma
        p.xtc_probability = xtcProbability
        p.xtc_threshold = xtcThreshold
        p.dynatemp_range = dynatempRange
        p.dynatemp_exponent = dynatempExponent
        p.mirostat = mirostat < 0 ? UInt32.max : UInt32(clamping: mirostat) // refused, as 3 is
        p.mirostat_tau = mirostatTau
        p.mirostat_eta = mirostatEta
        p.dry_multiplier = dryMultiplier
        p.dry_base = dryBase
        p.dry_allowed_length = UInt32(clamping: dryAllowedLength)
        p.dry_penalty_last_n = UInt32(clamping: dryPenaltyLastN)
        guard let breakers = drySequenceBreakers else { return try body(&p) }
        let arena = CStringArena()
        var pointers: [UnsafePointer<CChar>?] = breakers.map { arena.copy($0).pointer }
        if pointers.isEmpty { pointers = [nil] } // a non-NULL array of none: no breakers
        return try withExtendedLifetime(arena) { () throws -> R in
            try pointers.withUnsafeBufferPointer { (array: UnsafeBufferPointer<UnsafePointer<CChar>?>) throws -> R in
                p.dry_sequence_breakers = array.baseAddress
                p.n_dry_sequence_breakers = breakers.count
                return try body(&p)
            }
        }
    }
}

/// Holds a logits processor's closure for the C callback, which finds it through `user`.
final class LogitsProcessorBox {
    let body: (UnsafeMutableBufferPointer<Float>) -> Void
    init(_ body: @escaping (UnsafeMutableBufferPointer<Float>) -> Void) { self.body = body }
}

/// The `LlametteLogitsProcessorFn`: a C function pointer that reaches the Swift closure
/// through `user`.
private let logitsProcessorFn: LlametteLogitsProcessorFn = { user, logits, count in
    guard let user, let logits else { return }
    let box = Unmanaged<LogitsProcessorBox>.fromOpaque(user).takeUnretainedValue()
    box.body(UnsafeMutableBufferPointer(start: logits, count: count))
}

/// A sampler: its parameters, the recent tokens for the penalties and the random number
/// generator. Calls are serialized by a lock, so it may be handed between threads; a
/// generation in progress holds it until it ends.
public final class Sampler: @unchecked Sendable {
    /// The model whose vocabulary the sampler draws from (kept alive by it).
    public let model: Model
    /// The options it was made with.
    public let options: SamplingOptions
    let handle: OpaquePointer
    let lock = NSLock()
    /// The installed logits processor, retained while llamette may call it.
    private var processor: LogitsProcessorBox?

    /// Makes a sampler for `model`'s vocabulary (`llamette_sampler_new_ex`).
    /// - Throws: `LlametteError.invalidArgument` for penalties out of range, `mirostat` not 0,
    ///   1 or 2, a mirostat or DRY parameter that is not finite, a breaker that is not UTF-8.
    public init(model: Model, options: SamplingOptions = SamplingOptions()) throws {
        var out: OpaquePointer?
        try options.withCValue { params in try check(llamette_sampler_new_ex(model.handle, params, &out)) }
        self.model = model
        self.options = options
        handle = out!
    }

    deinit {
        llamette_sampler_free(handle)
        // `processor` is released after this, when llamette can no longer call it.
    }

    /// Chooses a token from the context's last logits. Does not record it: `accept` the token
    /// actually used (and every prompt token, for the penalties).
    public func sample(from context: Context) throws -> Token {
        // Lock order everywhere: context, then sampler.
        try context.lock.locked { () throws -> Token in
            try lock.locked { () throws -> Token in
                var token: Token = 0
                try check(llamette_sampler_sample(handle, context.handle, &token))
                return token
            }
        }
    }

    /// Records `token` in the history the penalties look at.
    public func accept(_ token: Token) throws {
        try lock.locked { try check(llamette_sampler_accept(handle, token)) }
    }

    /// Forgets the history and restarts the random number generator from the seed.
    public func reset() {
        lock.locked { llamette_sampler_reset(handle) }
    }

    /// Sets (nil removes) a logits processor: `processor` is called once per sampling step
    /// (`sample(from:)` and generation) with the step's raw logits, indexed by token id, to
    /// change in place: after a grammar's mask (a token it forbids is `-Float.infinity`, and
    /// raising it has no effect) and before the logit biases and every other stage, where
    /// llama-cpp-python runs its `logits_processor`. `-Float.infinity` bans a token. The buffer
    /// is the library's, valid only during the call. It runs on the thread that samples, with
    /// this sampler's lock (and, in a generation, the context's) held: it must not use them.
    /// It stays when biases are set and on `reset()`. The log-probabilities generation and
    /// `Context.promptLogprobs` report are the model's, not the processor's.
    public func setLogitsProcessor(_ processor: ((UnsafeMutableBufferPointer<Float>) -> Void)?) throws {
        try lock.locked {
            guard let processor else {
                try check(llamette_sampler_set_logits_processor(handle, nil, nil))
                self.processor = nil
                return
            }
            let box = LogitsProcessorBox(processor)
            try check(llamette_sampler_set_logits_processor(handle, logitsProcessorFn, Unmanaged.passUnretained(box).toOpaque()))
            self.processor = box // the old one is released only now that llamette forgot it
        }
    }

    /// Replaces the logit biases (added before every other stage; `-Float.infinity` bans a
    /// token); an empty dictionary removes them. Restarts the random number generator.
    public func setLogitBias(_ biases: [Token: Float]) throws {
        let tokens = Array(biases.keys)
        let values = tokens.map { biases[$0]! }
        try lock.locked {
            try tokens.withUnsafeBufferPointer { t in
                try values.withUnsafeBufferPointer { b in
                    try check(llamette_sampler_set_logit_bias(handle, t.baseAddress, b.baseAddress, t.count))
                }
            }
        }
    }
}

extension NSLock {
    /// Runs `body` holding the lock.
    @inline(__always)
    func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

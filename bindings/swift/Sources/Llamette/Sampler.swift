import CLlamette
import Foundation

/// Sampling parameters: llama.cpp's chain (logit bias, penalties, top-k, top-p, min-p,
/// temperature, seeded draw). `SamplingOptions()` has llama.cpp's defaults, read from the
/// library (`llamette_sampler_default_params`).
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
    /// Top-p and min-p keep at least this many candidates.
    public var minKeep: Int

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

    /// Makes a sampler for `model`'s vocabulary.
    /// - Throws: `LlametteError.invalidArgument` for penalties out of range.
    public init(model: Model, options: SamplingOptions = SamplingOptions()) throws {
        var params = options.cValue
        var out: OpaquePointer?
        try check(llamette_sampler_new(model.handle, &params, &out))
        self.model = model
        self.options = options
        handle = out!
    }

    deinit { llamette_sampler_free(handle) }

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

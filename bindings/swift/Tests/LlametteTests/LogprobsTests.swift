// Issue 18's surface against llama.cpp's logits in the tiny model's golden file (log-softmax
// here, in Double): the same checks as bindings/go/logprobs_test.go, with the same sampling
// parameters, so the numbers the Go tests verify are the ones asserted here. Not compiled in CI
// (no Swift toolchain there; see ../../README.md).
import Foundation
import XCTest

@testable import Llamette

func logSoftmax(_ logits: [Double]) -> [Double] {
    let m = logits.max()!
    let lse = m + log(logits.reduce(0.0) { $0 + exp($1 - m) })
    return logits.map { $0 - lse }
}

/// The ids of the `n` largest values, largest first (ties: lower id first).
func topIds(_ v: [Double], _ n: Int) -> [Token] {
    v.indices.sorted { v[$0] > v[$1] || (v[$0] == v[$1] && $0 < $1) }.prefix(n).map { Token($0) }
}

/// Checks an entry against the reference distribution: the token's logprob and its `n`
/// alternatives, within `tolerance`.
func assertEntry(
    _ e: TokenLogprob, _ want: Token, _ ref: [Double], top n: Int, tolerance: Double = 1e-4,
    _ what: String, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(e.token, want, what, file: file, line: line)
    XCTAssertEqual(Double(e.logprob), ref[Int(want)], accuracy: tolerance, what, file: file, line: line)
    XCTAssertEqual(e.top.map { $0.token }, topIds(ref, n), what, file: file, line: line)
    for a in e.top {
        XCTAssertEqual(Double(a.logprob), ref[Int(a.token)], accuracy: tolerance, what, file: file, line: line)
    }
}

/// Go's `SamplerOptions{Temperature: t, Seed: s}`: no truncation, no penalties.
func plainSampling(temperature: Float, seed: UInt64) -> SamplingOptions {
    var o = SamplingOptions()
    o.temperature = temperature
    o.seed = seed
    o.topK = 0
    o.topP = 1
    o.minP = 0
    return o
}

/// The ids of the first `n` tokens generated from `prompt` with `sampling`.
func firstTokens(_ model: Model, _ prompt: [Token], _ n: Int, _ sampling: SamplingOptions) throws -> [Token] {
    let context = try Context(model: model, options: ContextOptions(contextLength: 128))
    var ids: [Token] = []
    try context.generate(
        .tokens(prompt), options: GenerationOptions(maxTokens: n, sampling: sampling),
        onToken: { entry in
            ids.append(entry.token)
            return true
        }
    ) { _ in true }
    return ids
}

final class LogprobsTests: XCTestCase {
    // Greedy generation with logprobs 3: the greedy ids; the first token's logprob is
    // llama.cpp's log-softmax of the logits after the prompt, with its 3 largest as the
    // alternatives; every later token's numbers are promptLogprobs' at its position.
    func testGenerationLogprobsAreLlamaCppsDistribution() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let ref = logSoftmax(g.lastLogits)
        let context = try Context(model: model, options: ContextOptions(contextLength: 128))
        var seen: [TokenLogprob] = []
        var pieces = 0
        let summary = try context.generate(
            g.prompt, sampler: try Sampler(model: model, options: .greedy),
            options: GenerationOptions(maxTokens: 4, logprobs: 3),
            onToken: { entry in
                XCTAssertEqual(seen.count, pieces, "a token before the text of the one before")
                seen.append(entry)
                return true
            }
        ) { _ in
            pieces += 1
            return true
        }
        XCTAssertEqual(summary.stopReason, .length)
        XCTAssertEqual(summary.generatedTokens, 4)
        XCTAssertEqual(summary.logprobs, seen)
        XCTAssertEqual(seen.map { $0.token }, Array(g.greedy.prefix(4)))
        assertEntry(seen[0], g.greedy[0], ref, top: 3, "first token")
        for (i, e) in seen.enumerated() {
            // Greedy without penalties: the token is its own most likely alternative.
            XCTAssertEqual(e.top.count, 3, "token \(i)")
            XCTAssertEqual(e.top.first?.token, e.token, "token \(i)")
            XCTAssertEqual(e.top.first?.logprob ?? .nan, e.logprob, accuracy: 1e-6, "token \(i)")
            XCTAssertEqual(e.top.map { $0.logprob }, e.top.map { $0.logprob }.sorted(by: >), "token \(i)")
        }

        // The same numbers from every position's logits of the prompt extended by the tokens.
        let all = try Context(model: model, options: ContextOptions(contextLength: 128, logitsAll: true))
        let extended = try all.promptLogprobs(g.prompt + Array(g.greedy.prefix(4)), top: 3)
        for (i, e) in seen.enumerated() {
            let p = extended[g.prompt.count + i]
            XCTAssertEqual(p.token, e.token, "token \(i)")
            XCTAssertEqual(p.logprob, e.logprob, accuracy: 1e-4, "token \(i)")
            XCTAssertEqual(p.top.map { $0.token }, e.top.map { $0.token }, "token \(i)")
        }

        // logprobs 0: the token's logprob alone; more than maxAlternatives is clamped.
        for (ask, got) in [(0, 0), (-5, 0), (50, TokenLogprob.maxAlternatives)] {
            let c = try Context(model: model, options: ContextOptions(contextLength: 128))
            let s = try c.generate(
                .tokens(g.prompt), options: GenerationOptions(maxTokens: 1, sampling: .greedy, logprobs: ask)
            ) { _ in true }
            XCTAssertEqual(s.logprobs.count, 1, "logprobs \(ask)")
            if let e = s.logprobs.first { assertEntry(e, g.greedy[0], ref, top: got, "logprobs \(ask)") }
        }

        // Without logprobs onToken gets the ids alone; returning false stops after that token,
        // whose text is still handed out.
        let c = try Context(model: model, options: ContextOptions(contextLength: 128))
        var ids: [Token] = []
        var text = ""
        let stopped = try c.generate(
            .tokens(g.prompt), options: GenerationOptions(maxTokens: 10, sampling: .greedy),
            onToken: { entry in
                XCTAssertTrue(entry.logprob.isNaN)
                XCTAssertTrue(entry.top.isEmpty)
                ids.append(entry.token)
                return ids.count < 2
            }
        ) { piece in
            text += piece
            return true
        }
        XCTAssertEqual(stopped.stopReason, .callback)
        XCTAssertEqual(stopped.generatedTokens, 2)
        XCTAssertEqual(stopped.logprobs, [])
        XCTAssertEqual(ids, Array(g.greedy.prefix(2)))
        XCTAssertEqual(text, try model.detokenize(Array(g.greedy.prefix(2))))
    }

    // Prompt token i's logprob is llama.cpp's log-softmax of the logits at position i - 1; the
    // first token of an empty context has none; afterwards generation continues.
    func testPromptLogprobsFromEveryPosition() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let allLogits = try XCTUnwrap(g.allLogits)
        XCTAssertEqual(allLogits.count, g.prompt.count)
        let context = try Context(model: model, options: ContextOptions(contextLength: 128, logitsAll: true))
        let out = try context.promptLogprobs(g.prompt, top: 2)
        XCTAssertEqual(out.count, g.prompt.count)
        XCTAssertEqual(out[0].token, g.prompt[0])
        XCTAssertTrue(out[0].logprob.isNaN)
        XCTAssertTrue(out[0].top.isEmpty)
        for i in 1..<g.prompt.count {
            assertEntry(out[i], g.prompt[i], logSoftmax(allLogits[i - 1]), top: 2, "prompt token \(i)")
        }
        XCTAssertEqual(context.tokenCount, g.prompt.count)
        // The last logits are the prompt's.
        assertEntry(try context.tokenLogprob(g.greedy[0], top: 5), g.greedy[0], logSoftmax(g.lastLogits), top: 5, "tokenLogprob")
        var text = ""
        try context.generate([], sampler: try Sampler(model: model, options: .greedy),
                             options: GenerationOptions(maxTokens: 3)) { piece in
            text += piece
            return true
        }
        XCTAssertEqual(text, try model.detokenize(Array(g.greedy.prefix(3))))

        // After what the context holds: the first token is predicted by the last logits.
        let c2 = try Context(model: model, options: ContextOptions(contextLength: 128, logitsAll: true))
        try c2.evaluate(Array(g.prompt.prefix(4)))
        let rest = try c2.promptLogprobs(Array(g.prompt.dropFirst(4)))
        for (k, e) in rest.enumerated() {
            assertEntry(e, g.prompt[4 + k], logSoftmax(allLogits[3 + k]), top: 0, "after a prefix, \(k)")
        }

        // Errors: no logitsAll, no tokens, a token outside the vocabulary, no logits yet.
        let plain = try Context(model: model, options: ContextOptions(contextLength: 64))
        XCTAssertThrowsError(try plain.promptLogprobs(g.prompt, top: 1)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try c2.promptLogprobs([], top: 1)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try c2.promptLogprobs([1, 5000], top: 1)) { error in
            guard let e = error as? LlametteError, case .badToken = e else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try plain.tokenLogprob(1, top: 1)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
    }

    // A logits processor sees the model's raw logits and changes them: banning the greedy
    // token makes the second most likely one the choice; the logprobs stay the model's.
    func testLogitsProcessorBansTheGreedyToken() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let ref = logSoftmax(g.lastLogits)
        let second = topIds(ref, 2)[1]
        let banned = Int(g.greedy[0])

        let sampler = try Sampler(model: model, options: .greedy)
        var calls = 0
        var first: [Float] = []
        try sampler.setLogitsProcessor { logits in
            if calls == 0 { first = Array(logits) }
            calls += 1
            logits[banned] = -.infinity
        }
        let context = try Context(model: model, options: ContextOptions(contextLength: 128))
        let summary = try context.generate(
            g.prompt, sampler: sampler, options: GenerationOptions(maxTokens: 3, logprobs: 1)
        ) { _ in true }
        XCTAssertEqual(calls, 3)
        XCTAssertEqual(summary.logprobs.count, 3)
        let e = try XCTUnwrap(summary.logprobs.first)
        XCTAssertEqual(e.token, second)
        XCTAssertEqual(Double(e.logprob), ref[Int(second)], accuracy: 1e-4)
        XCTAssertEqual(e.top.first?.token, g.greedy[0], "the banned token is still the model's most likely")

        // It saw the logits the context had after the prompt, bit for bit.
        let c2 = try Context(model: model, options: ContextOptions(contextLength: 128))
        try c2.evaluate(g.prompt)
        XCTAssertEqual(first, try c2.logits())
        XCTAssertEqual(first.count, Int(model.info.vocabularySize))
        // sample(from:) runs it too, and reset() keeps it; nil removes it.
        sampler.reset()
        XCTAssertEqual(try sampler.sample(from: c2), second)
        try sampler.setLogitsProcessor(nil)
        XCTAssertEqual(try sampler.sample(from: c2), g.greedy[0])
    }

    // The extra samplers reach the library: each one's defining effect on llama.cpp's logits.
    func testExtraSamplersHaveLlamaCppsEffects() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let ref = logSoftmax(g.lastLogits)
        let greedy6 = Array(g.greedy.prefix(6))

        let d = SamplingOptions()
        XCTAssertEqual(d.typicalP, 1)
        XCTAssertEqual(d.topNSigma, -1)
        XCTAssertEqual(d.xtcProbability, 0)
        XCTAssertEqual(d.xtcThreshold, 0.1)
        XCTAssertEqual(d.dynatempRange, 0)
        XCTAssertEqual(d.dynatempExponent, 1)
        XCTAssertEqual(d.mirostat, 0)
        XCTAssertEqual(d.mirostatTau, 5)
        XCTAssertEqual(d.mirostatEta, 0.1)
        XCTAssertEqual(d.dryMultiplier, 0)
        XCTAssertEqual(d.dryBase, 1.75)
        XCTAssertEqual(d.dryAllowedLength, 2)
        XCTAssertEqual(d.dryPenaltyLastN, 64)
        XCTAssertNil(d.drySequenceBreakers)

        // Mirostat 2.0 with tau 0 keeps only the most likely token: greedy at temperature 1.5;
        // the same draws without mirostat are not.
        let hot = plainSampling(temperature: 1.5, seed: 7)
        var miro = hot
        miro.mirostat = 2
        miro.mirostatTau = 0
        miro.mirostatEta = 0.1
        XCTAssertEqual(try firstTokens(model, g.prompt, 6, miro), greedy6)
        XCTAssertNotEqual(try firstTokens(model, g.prompt, 6, hot), greedy6)
        // Top-n-sigma with a tiny n keeps only the largest logit: greedy too.
        var sigma = hot
        sigma.topNSigma = 1e-6
        XCTAssertEqual(try firstTokens(model, g.prompt, 6, sigma), greedy6)

        // Typical-p with a tiny mass keeps the token whose surprisal is closest to the entropy
        // (llama_sampler_typical); XTC with probability 1 and a threshold below every token's
        // probability keeps only the least likely.
        let h = -ref.reduce(0.0) { $0 + exp($1) * $1 }
        let typical = Token(ref.indices.min { abs(-ref[$0] - h) < abs(-ref[$1] - h) }!)
        let least = Token(ref.indices.min { ref[$0] < ref[$1] }!)
        XCTAssertNotEqual(typical, g.greedy[0], "the check below would prove nothing")
        for seed: UInt64 in [1, 2, 3] {
            var typ = plainSampling(temperature: 0.8, seed: seed)
            typ.typicalP = 1e-6
            XCTAssertEqual(try firstTokens(model, g.prompt, 1, typ), [typical], "seed \(seed)")
            var xtc = plainSampling(temperature: 1, seed: seed)
            xtc.xtcProbability = 1
            xtc.xtcThreshold = 1e-20
            XCTAssertEqual(try firstTokens(model, g.prompt, 1, xtc), [least], "seed \(seed)")
        }

        // Dynamic temperature (compared with itself: it sorts the candidates): an exponent
        // near 0 gives the top of the range, a huge one the bottom.
        func draws(_ temperature: Float, _ range: Float, _ exponent: Float) throws -> [Token] {
            var o = plainSampling(temperature: temperature, seed: 11)
            o.dynatempRange = range
            o.dynatempExponent = exponent
            return try firstTokens(model, g.prompt, 12, o)
        }
        let top = try draws(0.5, 0.7, 1e-9)
        let bottom = try draws(0.5, 0.3, 1e9)
        XCTAssertEqual(top, try draws(1.2, 1e-6, 1))
        XCTAssertEqual(bottom, try draws(0.2, 1e-6, 1))
        XCTAssertNotEqual(top, bottom)

        // DRY: after x y x the token y0 that would extend the repetition of x is penalised (a
        // logit bias makes it the greedy choice without DRY); a breaker inside x lifts it.
        let x: [Token] = [978, 975, 986, 381]
        let y0: Token = 173
        let prompt: [Token] = [1] + x + [y0, 922] + x
        let context = try Context(model: model, options: ContextOptions(contextLength: 64))
        try context.evaluate(prompt)
        let logits = try context.logits()
        let runnerUp = Token(logits.indices.filter { $0 != Int(y0) }.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
        let breaker = String(decoding: try model.piece(of: x[2]), as: UTF8.self)
        XCTAssertFalse(breaker.isEmpty)
        let cases: [(String, Float, [String]?, Token)] = [
            ("no DRY", 0, nil, y0),
            ("DRY, no breakers", 1000, [], runnerUp),
            ("DRY, the default breakers", 1000, nil, runnerUp),
            ("DRY, a breaker in x", 1000, ["\n", breaker], y0),
        ]
        for (what, multiplier, breakers, want) in cases {
            var o = SamplingOptions()
            o.temperature = 0
            o.dryMultiplier = multiplier
            o.drySequenceBreakers = breakers
            let s = try Sampler(model: model, options: o)
            try s.setLogitBias([y0: 100])
            for t in prompt { try s.accept(t) }
            XCTAssertEqual(try s.sample(from: context), want, what)
        }

        // Refused: mirostat 3, a NaN DRY base.
        var bad = SamplingOptions()
        bad.mirostat = 3
        XCTAssertThrowsError(try Sampler(model: model, options: bad)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
            XCTAssertTrue(e.message.contains("mirostat"), e.message)
        }
        bad = SamplingOptions()
        bad.dryMultiplier = 0.8
        bad.dryBase = .nan
        XCTAssertThrowsError(try Sampler(model: model, options: bad)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
            XCTAssertTrue(e.message.contains("dry_base"), e.message)
        }
    }

    // perf() counts prompt tokens and generated ones; reusePrefix keeps the prompt's start.
    func testPerfCountersAndPrefixReuse() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let context = try Context(model: model, options: ContextOptions(contextLength: 128))
        var p = try context.perf()
        XCTAssertEqual(p.promptTokenCount, 0)
        XCTAssertEqual(p.evalCount, 0)
        try context.generate(.tokens(g.prompt), options: GenerationOptions(maxTokens: 4, sampling: .greedy)) { _ in true }
        p = try context.perf()
        XCTAssertEqual(p.promptTokenCount, g.prompt.count)
        XCTAssertEqual(p.evalCount, 4)
        XCTAssertEqual(p.reusedTokenCount, 0)
        XCTAssertGreaterThan(p.promptEval, 0)
        XCTAssertGreaterThan(p.eval, 0)
        XCTAssertEqual(p.load, 0)

        // The same prompt with reusePrefix: all but its last token are kept; the last one and
        // the generated token are one-token evaluations.
        try context.resetPerf()
        p = try context.perf()
        XCTAssertEqual(p.promptTokenCount + p.evalCount, 0)
        let summary = try context.generate(
            .tokens(g.prompt), options: GenerationOptions(maxTokens: 1, sampling: .greedy, logprobs: 0, reusePrefix: true)
        ) { _ in true }
        XCTAssertEqual(summary.reusedTokens, g.prompt.count - 1)
        XCTAssertEqual(summary.logprobs.map { $0.token }, [g.greedy[0]])
        p = try context.perf()
        XCTAssertEqual(p.promptTokenCount, 0)
        XCTAssertEqual(p.evalCount, 2)
        XCTAssertEqual(p.reusedTokenCount, g.prompt.count - 1)
        XCTAssertThrowsError(
            try context.generate(.tokens([]), options: GenerationOptions(maxTokens: 1, reusePrefix: true)) { _ in true }
        ) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
    }
}

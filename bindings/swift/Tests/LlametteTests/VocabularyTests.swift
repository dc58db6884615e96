// The vocabulary's special tokens, attributes and fill-in-the-middle prompts against llama.cpp's
// (tests/fixtures/golden/vocab-special.json, scripts/vocab_goldens.py), with the same cases as
// bindings/go/vocab_test.go (which runs in CI and checks the same numbers through the same C
// calls).
import Foundation
import XCTest

@testable import Llamette

/// One vocabulary file's entry of vocab-special.json.
struct VocabGolden: Decodable {
    /// llama.cpp's special tokens; nil where it has none (null).
    struct Special: Decodable {
        let bos, eos, eot, sep, nl, pad: Token?
        let fimPre, fimSuf, fimMid, fimPad, fimRep, fimSep: Token?

        enum CodingKeys: String, CodingKey {
            case bos, eos, eot, sep, nl, pad
            case fimPre = "fim_pre", fimSuf = "fim_suf", fimMid = "fim_mid"
            case fimPad = "fim_pad", fimRep = "fim_rep", fimSep = "fim_sep"
        }
    }

    struct Extra: Decodable {
        /// nil: "tmp".
        let filename: String?
        let text: String
    }

    /// One /infill prompt llama.cpp's server built.
    struct Infill: Decodable {
        let prefix: String
        let suffix: String
        let extra: [Extra]
        let promptIds: [Token]
        let nBatch: Int
        let nPredict: Int
        let nCtx: Int
        let spmInfill: Bool
        let ids: [Token]

        enum CodingKeys: String, CodingKey {
            case prefix, suffix, extra, ids
            case promptIds = "prompt_ids", nBatch = "n_batch", nPredict = "n_predict", nCtx = "n_ctx"
            case spmInfill = "spm_infill"
        }
    }

    let nTokens: Int
    let special: Special
    let addBos: Bool
    let addEos: Bool
    let eog: [Token]
    let control: [Token]
    /// Every token whose attributes are not just "normal", by id (as text), as names in bit
    /// order.
    let attrsNotJustNormal: [String: [String]]
    let infill: [Infill]

    enum CodingKeys: String, CodingKey {
        case special, eog, control, infill
        case nTokens = "n_tokens", addBos = "add_bos", addEos = "add_eos"
        case attrsNotJustNormal = "attrs_not_just_normal"
    }
}

struct VocabGoldenFile: Decodable {
    let vocabs: [String: VocabGolden]
}

func vocabGoldens() throws -> [(name: String, golden: VocabGolden)] {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture("golden/vocab-special.json")))
    let file = try JSONDecoder().decode(VocabGoldenFile.self, from: data)
    return file.vocabs.keys.sorted().map { ($0, file.vocabs[$0]!) }
}

final class VocabularyTests: XCTestCase {
    // The special tokens, add_bos/add_eos, the end-of-generation set and every token's
    // attributes of the 9 vocabulary fixtures are llama.cpp's.
    func testSpecialTokensAndAttributesAreLlamaCpps() throws {
        let goldens = try vocabGoldens()
        XCTAssertEqual(goldens.count, 9)
        for (name, want) in goldens {
            let model = try Model(path: fixture("vocab/\(name)"))
            let v = try model.vocabularyInfo()
            XCTAssertEqual(v.tokenCount, want.nTokens, name)
            XCTAssertEqual(v.tokenCount, model.info.vocabularySize, name)
            let s = want.special
            XCTAssertEqual(v.bos, s.bos, "\(name) bos")
            XCTAssertEqual(v.eos, s.eos, "\(name) eos")
            XCTAssertEqual(v.eot, s.eot, "\(name) eot")
            XCTAssertEqual(v.separator, s.sep, "\(name) sep")
            XCTAssertEqual(v.newline, s.nl, "\(name) nl")
            XCTAssertEqual(v.padding, s.pad, "\(name) pad")
            XCTAssertEqual(v.fimPrefix, s.fimPre, "\(name) fim_pre")
            XCTAssertEqual(v.fimSuffix, s.fimSuf, "\(name) fim_suf")
            XCTAssertEqual(v.fimMiddle, s.fimMid, "\(name) fim_mid")
            XCTAssertEqual(v.fimPadding, s.fimPad, "\(name) fim_pad")
            XCTAssertEqual(v.fimRepository, s.fimRep, "\(name) fim_rep")
            XCTAssertEqual(v.fimSeparator, s.fimSep, "\(name) fim_sep")
            XCTAssertEqual(v.bos, model.info.bos, name)
            XCTAssertEqual(v.eos, model.info.eos, name)
            XCTAssertEqual(v.addsBOS, want.addBos, name)
            XCTAssertEqual(v.addsEOS, want.addEos, name)

            let eog = try model.endOfGenerationTokens()
            XCTAssertEqual(eog, want.eog, name)
            for t in eog { XCTAssertTrue(try model.isEndOfGeneration(t), "\(name) \(t)") }

            // Every token: the listed ones have their attributes, every other one is just
            // normal; the control set is llama.cpp's.
            var control: [Token] = []
            var listed = 0
            for id in 0..<v.tokenCount {
                let a = try model.attributes(of: Token(id))
                if a.contains(.control) { control.append(Token(id)) }
                var names = ["normal"]
                if let n = want.attrsNotJustNormal[String(id)] {
                    names = n
                    listed += 1
                }
                if a.names != names {
                    XCTFail("\(name): attributes of \(id) are \(a), want \(names)")
                    return
                }
            }
            XCTAssertEqual(listed, want.attrsNotJustNormal.count, name)
            XCTAssertEqual(control, want.control, name)
            XCTAssertThrowsError(try model.attributes(of: Token(v.tokenCount))) { error in
                guard let e = error as? LlametteError, case .badToken = e else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(TokenAttributes([.control, .rstrip]).description, "control|rstrip")
        XCTAssertEqual(TokenAttributes().description, "undefined")
        XCTAssertEqual(TokenAttributes().names, [])
    }

    // The fill-in-the-middle prompts of the CodeLlama-70B, DeepSeek-Coder and StarCoder
    // vocabularies are those of llama.cpp's /infill, trimmed as its server trims.
    func testInfillPromptsAreLlamaCpps() throws {
        let defaults = InfillOptions()
        XCTAssertEqual(defaults, InfillOptions(batchSize: 2048, maxTokens: nil, contextLength: 4096, suffixFirst: false))
        XCTAssertEqual(defaults.batchSize, 2048)
        XCTAssertNil(defaults.maxTokens)
        XCTAssertEqual(defaults.contextLength, 4096)
        var withFIM = 0
        for (name, want) in try vocabGoldens() {
            let model = try Model(path: fixture("vocab/\(name)"))
            if want.infill.isEmpty {
                // No FIM tokens: an error, not a prompt.
                XCTAssertThrowsError(try model.infillTokens(prefix: "a", suffix: "b")) { error in
                    guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(name): \(error)") }
                }
                continue
            }
            withFIM += 1
            let v = try model.vocabularyInfo()
            XCTAssertEqual(v.fimPrefix, want.special.fimPre, name)
            XCTAssertEqual(v.fimMiddle, want.special.fimMid, name)
            for (i, c) in want.infill.enumerated() {
                let extra = c.extra.map { InfillChunk(filename: $0.filename, text: $0.text) }
                let options = InfillOptions(
                    batchSize: c.nBatch, maxTokens: c.nPredict < 0 ? nil : c.nPredict, contextLength: c.nCtx,
                    suffixFirst: c.spmInfill)
                XCTAssertEqual(
                    try model.infillTokens(prefix: c.prefix, suffix: c.suffix, extra: extra, prompt: c.promptIds, options: options),
                    c.ids, "\(name) case \(i)")
                if options == defaults {
                    XCTAssertEqual(
                        try model.infillTokens(prefix: c.prefix, suffix: c.suffix, extra: extra, prompt: c.promptIds),
                        c.ids, "\(name) case \(i) with the default options")
                }
            }
            let stops = try model.infillStopTokens()
            XCTAssertEqual(stops, stops.sorted(), name)
            XCTAssertTrue(Set(want.eog).isSubset(of: Set(stops)), "\(name): \(stops) lacks some of \(want.eog)")
            XCTAssertThrowsError(try model.infillTokens(prefix: "a", suffix: "b", prompt: [Token(v.tokenCount)])) { error in
                guard let e = error as? LlametteError, case .badToken = e else { return XCTFail("\(name): \(error)") }
            }
        }
        XCTAssertEqual(withFIM, 3)
    }
}

// Embeddings (Context.embed) against llama.cpp's: the SmolLM2 vectors llama-cpp-python 0.3.36
// computes (tests/fixtures/golden/smollm2-embeddings.json, scripts/embed_goldens.py), with the
// same cases as bindings/go/embed_test.go (which runs in CI and checks the same numbers
// through the same C calls).
import Foundation
import XCTest

@testable import Llamette

/// smollm2-embeddings.json: 576 floats per vector, one per text for mean, last and cls
/// pooling (and L2-normalized), every token's row (pooling none) of texts 0 and 1.
struct EmbeddingGolden: Decodable {
    let texts: [String]
    let tokens: [[Token]]
    let mean, meanL2, last, lastL2, cls, clsL2: [[Double]]
    let none, noneL2: [[[Double]]]

    enum CodingKeys: String, CodingKey {
        case texts, tokens, mean, last, cls, none
        case meanL2 = "mean_l2", lastL2 = "last_l2", clsL2 = "cls_l2", noneL2 = "none_l2"
    }
}

func embeddingGolden() throws -> EmbeddingGolden {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture("golden/smollm2-embeddings.json")))
    return try JSONDecoder().decode(EmbeddingGolden.self, from: data)
}

/// The largest |got - want| over the largest |want| (the Python, Go and Rust tests' measure).
func relativeDifference(_ got: [Float], _ want: [Double]) -> Double {
    var scale = 0.0
    var diff = 0.0
    for (g, w) in zip(got, want) {
        scale = max(scale, abs(w))
        diff = max(diff, abs(Double(g) - w))
    }
    return diff / scale
}

/// Compares rows with `want`: the same shape, each within `tolerance` relative (0: the same
/// bits, as llama.cpp's f32 values).
func assertRows(
    _ rows: [[Float]], _ want: [[Double]], tolerance: Double, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(rows.count, want.count, "\(what): rows", file: file, line: line)
    for (i, (r, w)) in zip(rows, want).enumerated() {
        XCTAssertEqual(r.count, 576, "\(what) row \(i)", file: file, line: line)
        XCTAssertEqual(r.count, w.count, "\(what) row \(i)", file: file, line: line)
        if tolerance == 0 {
            XCTAssertEqual(r.map { Double($0) }, w, "\(what) row \(i): want llama.cpp's bits", file: file, line: line)
        } else {
            let d = relativeDifference(r, w)
            XCTAssertLessThan(d, tolerance, "\(what) row \(i)", file: file, line: line)
        }
    }
}

final class EmbeddingTests: XCTestCase {
    // SmolLM2's mean (within 5e-7 relative), last and cls (bit for bit) embeddings and
    // per-token rows equal llama.cpp's, in one batch of the three texts.
    func testSmolLM2EmbeddingsEqualLlamaCpps() throws {
        let g = try embeddingGolden()
        XCTAssertEqual(g.texts.count, 3)
        let model = try loadSmolLM2()
        for (text, ids) in zip(g.texts, g.tokens) {
            XCTAssertEqual(try model.tokenize(text, addSpecial: true, parseSpecial: false), ids)
        }
        // SmolLM2's file names no pooling: none.
        XCTAssertEqual(try model.pooling(), Pooling.none)
        let context = try Context(
            model: model, options: ContextOptions(contextLength: 512, embeddings: true, maxSequences: 4))
        let cases: [(Pooling, EmbeddingNormalization, [[Double]], Double)] = [
            (.mean, .none, g.mean, 5e-7),
            (.mean, .euclidean, g.meanL2, 5e-7),
            (.last, .none, g.last, 0),
            (.last, .euclidean, g.lastL2, 5e-7),
            (.cls, .none, g.cls, 0),
            (.cls, .euclidean, g.clsL2, 5e-7),
        ]
        for (pooling, normalization, want, tolerance) in cases {
            let rows = try context.embed(g.tokens, pooling: pooling, normalization: normalization)
            assertRows(rows, want, tolerance: tolerance, "\(pooling) \(normalization)")
            if normalization == .euclidean {
                for r in rows {
                    let length = r.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                    XCTAssertEqual(length, 1, accuracy: 1e-6)
                }
            }
            XCTAssertEqual(context.tokenCount, 0, "embed clears the context")
        }
        // Pooling none (the model's): every token's row, sequence after sequence.
        let rows = try context.embed(Array(g.tokens[..<2]))
        assertRows(rows, g.none.flatMap { $0 }, tolerance: 0, "none")
        let normalized = try context.embed(Array(g.tokens[..<2]), pooling: .none, normalization: .euclidean)
        assertRows(normalized, g.noneL2.flatMap { $0 }, tolerance: 1e-6, "none L2")
    }

    // The same in steps of 4 tokens (a context with one sequence and 4 output rows), and from
    // embedding(at:) after evaluating. Texts 0 and 1 only: the golden rows are of one batch of
    // all three texts, and text 2's rows at positions 17 to 19 differ (by up to 8e-3 relative)
    // when it is evaluated without texts 0 and 1 (see bindings/go/embed_test.go).
    func testSmolLM2EmbeddingsInStepsAndByToken() throws {
        let g = try embeddingGolden()
        let model = try loadSmolLM2()
        let two = Array(g.tokens[..<2])
        let stepped = try Context(
            model: model, options: ContextOptions(contextLength: 512, embeddings: true, outputRows: 4))
        assertRows(try stepped.embed(two, pooling: .last), Array(g.last[..<2]), tolerance: 0, "last in steps of 4")
        assertRows(try stepped.embed(two, pooling: .cls), Array(g.cls[..<2]), tolerance: 0, "cls in steps of 4")
        assertRows(
            try stepped.embed(two, pooling: .mean, normalization: .euclidean), Array(g.meanL2[..<2]), tolerance: 1e-6,
            "mean L2 in steps of 4")
        assertRows(try stepped.embed(two, pooling: .none), g.none.flatMap { $0 }, tolerance: 0, "none in steps of 4")

        // Every token of an evaluation is an output with logitsAll: embedding(at:) is its row.
        let context = try Context(
            model: model, options: ContextOptions(contextLength: 512, logitsAll: true, embeddings: true))
        let ids = g.tokens[1]
        try context.evaluate(ids)
        let byToken = try (0..<ids.count).map { try context.embedding(at: $0) }
        assertRows(byToken, g.none[1], tolerance: 0, "embedding(at:)")
        XCTAssertThrowsError(try context.embedding(at: ids.count)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
    }

    func testEmbeddingErrors() throws {
        let model = try Model(path: tinyModelPath)
        let plain = try Context(model: model, options: ContextOptions(contextLength: 64))
        XCTAssertThrowsError(try plain.embed([[1, 2]], pooling: .mean)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
        try plain.evaluate([1, 2])
        XCTAssertThrowsError(try plain.embedding(at: 1)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
        let context = try Context(
            model: model, options: ContextOptions(contextLength: 64, embeddings: true, maxSequences: 2))
        XCTAssertThrowsError(try context.embed([[1, 2], []], pooling: .mean)) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try context.embed([[1, 1 << 20]], pooling: .mean)) { error in
            guard let e = error as? LlametteError, case .badToken = e else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try context.embed([[Token](repeating: 1, count: 65)], pooling: .mean)) { error in
            guard let e = error as? LlametteError, case .contextFull = e else { return XCTFail("\(error)") }
        }
        // Two sequences in one step equal each alone; rows are embeddingLength long.
        let sequences: [[Token]] = [[1, 5, 9], [1, 7]]
        let both = try context.embed(sequences, pooling: .mean)
        for (i, s) in sequences.enumerated() {
            let alone = try context.embed([s], pooling: .mean)
            XCTAssertEqual(alone[0].count, model.info.embeddingLength)
            XCTAssertEqual(both[i], alone[0], "sequence \(i)")
        }
        XCTAssertEqual(try context.embed([], pooling: .mean), [])
        // A vocabulary-only model has no pooling.
        let vocab = try Model(path: fixture("vocab/ggml-vocab-llama-spm.gguf"))
        XCTAssertThrowsError(try vocab.pooling()) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
    }
}

// Tests of the Swift binding against the repository's fixtures and SmolLM2 (not run in CI: no
// Swift toolchain there; see ../../README.md). From bindings/swift, after
// `cargo build --release --features ffi` and `scripts/fetch-smollm2.sh` at the repository root:
//
//   LD_LIBRARY_PATH=$PWD/../../target/release swift test -Xlinker -L$PWD/../../target/release
import Dispatch
import Foundation
import XCTest

@testable import Llamette

/// The repository root, from this file's path (bindings/swift/Tests/LlametteTests/...).
let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<5 { url.deleteLastPathComponent() }
    return url
}()

func fixture(_ relative: String) -> String {
    repositoryRoot.appendingPathComponent("tests/fixtures").appendingPathComponent(relative).path
}

let tinyModelPath = fixture("models/tiny-codellama.q8_0.gguf")
let smolLM2Path = repositoryRoot.appendingPathComponent("models/smollm2-135m-instruct.q4_1.gguf").path

/// One case of a llama.cpp golden file (tests/fixtures/golden/*.json).
struct GoldenCase: Decodable {
    let prompt: [Token]
    let greedy: [Token]
    /// llama.cpp's logits after the prompt.
    let lastLogits: [Double]
    /// llama.cpp's logits after each prompt position (`allLogits[i]` predicts `prompt[i + 1]`;
    /// the tiny model's golden file only).
    let allLogits: [[Double]]?

    enum CodingKeys: String, CodingKey {
        case prompt, greedy
        case lastLogits = "last_logits"
        case allLogits = "all_logits"
    }
}

struct Golden: Decodable {
    let cases: [GoldenCase]
}

func golden(_ name: String) throws -> Golden {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture("golden/\(name).json")))
    return try JSONDecoder().decode(Golden.self, from: data)
}

/// SmolLM2, or a failure that says how to get it (never a skip).
func loadSmolLM2(file: StaticString = #filePath, line: UInt = #line) throws -> Model {
    guard FileManager.default.fileExists(atPath: smolLM2Path) else {
        XCTFail("\(smolLM2Path) is missing: run scripts/fetch-smollm2.sh at the repository root", file: file, line: line)
        throw LlametteError.io(message: "missing SmolLM2")
    }
    return try Model(path: smolLM2Path)
}

/// Greedy ids one token at a time: evaluate, sample, accept, evaluate.
func greedyIds(_ context: Context, _ prompt: [Token], count: Int) throws -> [Token] {
    let sampler = try Sampler(model: context.model, options: .greedy)
    for t in prompt { try sampler.accept(t) }
    try context.evaluate(prompt)
    var ids: [Token] = []
    for _ in 0..<count {
        let t = try sampler.sample(from: context)
        try sampler.accept(t)
        try context.evaluate([t])
        ids.append(t)
    }
    return ids
}

/// Counts deallocator calls (from whichever thread frees the model).
final class ReleaseCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}

final class LlametteTests: XCTestCase {
    func testVersionsMatch() {
        XCTAssertEqual(LlametteVersion.library.major, LlametteVersion.header.major)
        XCTAssertEqual(LlametteVersion.library.minor, LlametteVersion.header.minor)
    }

    func testTinyGreedyMatchesLlamaCppSeriallyAndOnDispatch() throws {
        let model = try Model(path: tinyModelPath)
        XCTAssertEqual(model.info.vocabularySize, 1024)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let serial = try Context(model: model, options: ContextOptions(contextLength: 64, parallelism: .serial))
        XCTAssertEqual(try greedyIds(serial, g.prompt, count: 32), Array(g.greedy.prefix(32)))
        XCTAssertEqual(serial.parallelStatistics.calls, 0)

        let parallel = try Context(model: model, options: ContextOptions(contextLength: 64, parallelism: .dispatch(width: 4)))
        XCTAssertEqual(try greedyIds(parallel, g.prompt, count: 32), Array(g.greedy.prefix(32)))
        XCTAssertGreaterThan(parallel.parallelStatistics.calls, 0, "concurrentPerform never ran a batch")
    }

    func testSmolLM2GreedyIdsMatchLlamaCpp() throws {
        let model = try loadSmolLM2()
        let g = try golden("smollm2-135m-instruct.q4_1").cases[0]
        let context = try Context(model: model, options: ContextOptions(contextLength: 512))
        let n = min(g.greedy.count, 16)
        XCTAssertEqual(try greedyIds(context, g.prompt, count: n), Array(g.greedy.prefix(n)))
    }

    func testSmolLM2StreamsTheGoldenAnswer() async throws {
        let model = try loadSmolLM2()
        XCTAssertEqual(model.info.chatFormat, .chatML)
        let context = try Context(model: model, options: ContextOptions(contextLength: 256))
        var text = ""
        let stream = context.generate(
            .chat([.user("What is the capital of France?")]),
            options: GenerationOptions(sampling: .greedy))
        for try await piece in stream { text += piece }
        XCTAssertEqual(text, "The capital of France is Paris.")
    }

    func testSynchronousGenerationReportsWhyItStopped() throws {
        let model = try loadSmolLM2()
        let context = try Context(model: model, options: ContextOptions(contextLength: 256))
        var text = ""
        let summary = try context.generate(
            .chat([.user("What is the capital of France?")]),
            options: GenerationOptions(sampling: .greedy)
        ) { piece in
            text += piece
            return true
        }
        XCTAssertEqual(text, "The capital of France is Paris.")
        XCTAssertEqual(summary, GenerationSummary(stopReason: .endOfGeneration, generatedTokens: 7))

        // A stop string ends it early: it and what follows are not handed out.
        try context.truncate(keeping: 0)
        text = ""
        let stopped = try context.generate(
            .chat([.user("What is the capital of France?")]),
            options: GenerationOptions(stopStrings: [" is"], sampling: .greedy)
        ) { piece in
            text += piece
            return true
        }
        XCTAssertEqual(text, "The capital of France")
        XCTAssertEqual(stopped.stopReason, .stopString)
    }

    func testCodeLlama70BDialogRendersToMetasIds() throws {
        let vocab = try Model(path: fixture("vocab/codellama-70b-instruct-vocab.gguf"))
        let dialog: [ChatMessage] = [
            .system("System prompt    "),
            .user("First user query"),
            .assistant("Model response to first query"),
            .user("Second user query"),
        ]
        let expected: [Token] = [
            1, 7562, 29901, 1788, 13, 13, 2184, 9508, 32015, 7562, 29901, 1404, 13,
            13, 3824, 1404, 2346, 32015, 7562, 29901, 20255, 13, 13, 8125, 2933, 304,
            937, 2346, 32015, 7562, 29901, 1404, 13, 13, 6440, 1404, 2346, 32015, 7562,
            29901, 20255, 13, 14994, 3381, 29901, 1404, 13, 13, 29871,
        ]
        XCTAssertEqual(try vocab.chatTokens(dialog, format: .codeLlama70B), expected)
        XCTAssertEqual(
            try vocab.renderChat(dialog, format: .codeLlama70B),
            "<s>Source: system\n\n System prompt <step> Source: user\n\n First user query <step> "
                + "Source: assistant\n\n Model response to first query <step> Source: user\n\n Second user "
                + "query <step> Source: assistant\nDestination: user\n\n ")
        XCTAssertThrowsError(try vocab.chatTokens([], format: .codeLlama70B)) { error in
            guard let e = error as? LlametteError, case .badChat = e else { return XCTFail("\(error)") }
        }
    }

    func testTokenizeAndDetokenizeRoundTrip() throws {
        let model = try Model(path: tinyModelPath)
        let text = "Hello, wörld! 你好"
        let ids = try model.tokenize(text, addSpecial: false)
        XCTAssertFalse(ids.isEmpty)
        let back = try model.detokenize(ids)
        XCTAssertEqual(back.trimmingCharacters(in: .whitespaces), text)
        XCTAssertEqual(try model.tokenize("", addSpecial: false), [])
        XCTAssertThrowsError(try model.piece(of: 1_000_000)) { error in
            guard let e = error as? LlametteError, case .badToken = e else { return XCTFail("\(error)") }
        }
    }

    func testErrorsCarryStatusAndMessage() {
        XCTAssertThrowsError(try Model(path: "/nonexistent/model.gguf")) { error in
            guard let e = error as? LlametteError, case .io = e else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, 5)
            XCTAssertFalse(e.message.isEmpty)
            XCTAssertTrue(e.description.contains(e.message))
        }
        XCTAssertThrowsError(try Model(bytes: [0x47, 0x47, 0x55, 0x46, 0, 0])) { error in
            guard let e = error as? LlametteError, case .badFile = e else { return XCTFail("\(error)") }
        }
    }

    func testAbortFlagStopsBeforeTheNextToken() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let context = try Context(model: model, options: ContextOptions(contextLength: 256))
        let sampler = try Sampler(model: model, options: .greedy)
        let flag = AbortFlag()
        var pieces = 0
        let summary = try context.generate(g.prompt, sampler: sampler, abortFlag: flag) { _ in
            pieces += 1
            if pieces == 3 { flag.raise() }
            return true
        }
        XCTAssertEqual(summary.stopReason, .aborted)
        XCTAssertEqual(pieces, 3)
        XCTAssertTrue(flag.isRaised)
    }

    func testCancellingTheStreamRaisesTheAbortFlag() async throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let context = try Context(model: model, options: ContextOptions(contextLength: 4096, parallelism: .serial))
        let task = Task {
            var n = 0
            for try await _ in context.generate(.tokens(g.prompt), options: GenerationOptions(sampling: .greedy)) {
                n += 1
                if n == 2 { withUnsafeCurrentTask { $0?.cancel() } }
            }
            return n
        }
        let received = try await task.value
        XCTAssertGreaterThanOrEqual(received, 2)
        // The context's lock is held until generation has stopped: without the abort flag it
        // would run on until the context is full (4096 positions).
        XCTAssertLessThan(context.tokenCount, 1024)
    }

    func testConcurrentContextsOnOneModel() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0")
        let lock = NSLock()
        var results: [Int: [Token]] = [:]
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let c = g.cases[i % g.cases.count]
            let ids = (try? Context(model: model, options: ContextOptions(contextLength: 128, parallelism: i == 3 ? .automatic : .serial)))
                .flatMap { try? greedyIds($0, c.prompt, count: 8) }
            lock.lock()
            results[i] = ids
            lock.unlock()
        }
        for i in 0..<4 {
            XCTAssertEqual(results[i], Array(g.cases[i % g.cases.count].greedy.prefix(8)), "context \(i)")
        }
    }

    func testHandlesAreFreedAndBorrowedBytesOutliveEverything() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tinyModelPath))
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 64)
        raw.copyBytes(from: bytes)
        let releases = ReleaseCounter()
        weak var weakModel: Model?
        weak var weakContext: Context?
        var context: Context?
        do {
            let model = try Model(bytesNoCopy: UnsafeRawBufferPointer(raw)) {
                releases.increment()
                raw.deallocate()
            }
            weakModel = model
            context = try Context(model: model, options: ContextOptions(contextLength: 32))
            weakContext = context
        }
        // The caller let go of the model: the context keeps it, and its bytes, alive.
        XCTAssertNotNil(weakModel)
        XCTAssertEqual(releases.count, 0)
        try context!.evaluate([1, 2, 3])
        context = nil
        XCTAssertNil(weakContext)
        XCTAssertNil(weakModel)
        XCTAssertEqual(releases.count, 1)
    }

    /// Per-call overhead of the concurrentPerform callback over the serial path: one-token
    /// evaluations of the tiny model, each of which hands llamette's tasks to the host.
    func testMeasureParallelCallbackOverhead() throws {
        let model = try Model(path: tinyModelPath)
        func time(_ parallelism: Parallelism) throws -> (seconds: Double, calls: UInt64) {
            let context = try Context(model: model, options: ContextOptions(contextLength: 512, parallelism: parallelism))
            try context.evaluate([1])
            let start = DispatchTime.now()
            for i in 0..<400 { try context.evaluate([Token(2 + i % 500)]) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            return (seconds, context.parallelStatistics.calls)
        }
        let serial = try time(.serial)
        let dispatch = try time(.automatic)
        let perCall = dispatch.calls > 0 ? (dispatch.seconds - serial.seconds) / Double(dispatch.calls) : 0
        print(String(format: "parallel callback: serial %.2f ms/token, concurrentPerform %.2f ms/token, %ld calls, overhead %.2f us/call",
                     serial.seconds / 0.4, dispatch.seconds / 0.4, Int(dispatch.calls), perCall * 1e6))
        XCTAssertGreaterThan(dispatch.calls, 0)
    }

    // Grammars: the tiny model's greedy texts equal the C ABI tests' (tests/c/test_grammar.c).
    func testGrammarsConstrainGeneration() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        let cases: [(Grammar, String)] = [
            (try Grammar(gbnf: "root ::= word (\" \" word){2} \".\"\nword ::= [a-z]{1,6}\n"), "orsw obli byoukb."),
            (try Grammar(regex: "[0-9]{3}-[A-Z]{2}"), "290-ER"),
            (try Grammar.jsonObject(), "{}"),
        ]
        for (grammar, want) in cases {
            let context = try Context(model: model, options: ContextOptions(contextLength: 256))
            var text = ""
            let summary = try context.generate(
                .tokens(g.prompt), options: GenerationOptions(maxTokens: 64, sampling: .greedy, grammar: grammar)
            ) { piece in
                text += piece
                return true
            }
            XCTAssertEqual(text, want)
            XCTAssertEqual(summary.stopReason, .endOfGeneration)
        }

        // An empty language stops at once; sampling alone throws .constraint.
        let nothing = try Grammar(regex: #"[^\s\S]"#)
        let context = try Context(model: model, options: ContextOptions(contextLength: 256))
        let summary = try context.generate(
            .tokens(g.prompt), options: GenerationOptions(maxTokens: 8, sampling: .greedy, grammar: nothing)
        ) { _ in true }
        guard case .grammar(let why) = summary.stopReason else { return XCTFail("\(summary)") }
        XCTAssertTrue(why.contains("regular expression"), why)
        XCTAssertEqual(summary.generatedTokens, 0)
        let sampler = try Sampler(model: model, options: .greedy)
        try sampler.setGrammar(nothing)
        XCTAssertThrowsError(try sampler.sample(from: context)) { error in
            guard let e = error as? LlametteError, case .constraint = e else { return XCTFail("\(error)") }
        }
        try sampler.setGrammar(nil)
        XCTAssertNoThrow(try sampler.sample(from: context))
    }

    func testGrammarSamplerLoopAndErrors() throws {
        let model = try Model(path: tinyModelPath)
        let g = try golden("tiny-codellama.q8_0").cases[0]
        XCTAssertThrowsError(try Grammar(gbnf: #"root ::= "a" b"#)) { error in
            guard let e = error as? LlametteError, case .badGrammar = e else { return XCTFail("\(error)") }
            XCTAssertEqual(e.code, 14)
            XCTAssertTrue(e.message.contains("GBNF line 1, column 14: undefined rule 'b'"), e.message)
        }
        XCTAssertThrowsError(try Grammar(jsonSchema: "{\"type\": }")) { error in
            guard let e = error as? LlametteError, case .badGrammar = e else { return XCTFail("\(error)") }
            XCTAssertTrue(e.message.contains("JSON schema line 1, column "), e.message)
        }
        XCTAssertNoThrow(try Grammar(gbnf: #"start ::= "a""#, root: "start"))

        // Two digits, a space and <step> (a token written by text: the model resolves it).
        let step = #"root ::= [0-9] [0-9] " " <step>"#
        XCTAssertThrowsError(try Grammar(gbnf: step))
        let sampler = try Sampler(model: model, options: .greedy)
        try sampler.setGrammar(try Grammar(gbnf: step, model: model))
        let context = try Context(model: model, options: ContextOptions(contextLength: 64))
        try context.evaluate(g.prompt)
        var ids: [Token] = []
        while ids.count < 8 {
            let t = try sampler.sample(from: context)
            ids.append(t)
            if try model.isEndOfGeneration(t) { break }
            XCTAssertThrowsError(try sampler.acceptSampled(100)) { error in
                guard let e = error as? LlametteError, case .constraint = e else { return XCTFail("\(error)") }
            }
            try sampler.acceptSampled(t)
            try context.evaluate([t])
        }
        XCTAssertEqual(ids.count, 5)
        XCTAssertEqual(ids[3], 1023)
        XCTAssertEqual(try model.detokenize(Array(ids[2...2])), " ")
    }
}

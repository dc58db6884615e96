// Jinja chat templates (Model.renderTemplate) against Python's jinja2: the strings of
// tests/fixtures/templates/expected.json (scripts/render_templates.py), with the same cases as
// bindings/go/template_test.go (which runs in CI and checks the same strings through the same
// C calls).
import Foundation
import XCTest

@testable import Llamette

/// A JSON value of any shape, to compare parsed JSON (expected.json's tools).
indirect enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(o)
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else {
            self = .number(try c.decode(Double.self))
        }
    }
}

/// One conversation of expected.json.
struct TemplateConversation: Decodable {
    struct Message: Decodable {
        let role: String
        let content: String
    }

    let messages: [Message]
    let addGenerationPrompt: Bool
    /// nil: none (null in the file).
    let tools: JSONValue?

    enum CodingKeys: String, CodingKey {
        case messages, tools
        case addGenerationPrompt = "add_generation_prompt"
    }

    var chatMessages: [ChatMessage] { messages.map { ChatMessage(role: $0.role, content: $0.content) } }

    /// The messages as JSON (role and content: the templates read them by name, so key order
    /// does not matter here).
    func messagesJSON() throws -> Data {
        try JSONSerialization.data(withJSONObject: messages.map { ["role": $0.role, "content": $0.content] })
    }
}

struct TemplateExpected: Decodable {
    struct Entry: Decodable {
        struct Result: Decodable {
            /// nil where jinja2 failed.
            let output: String?
        }

        let results: [Result]
    }

    let conversations: [TemplateConversation]
    let templates: [String: Entry]
}

func templateExpected() throws -> TemplateExpected {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixture("templates/expected.json")))
    return try JSONDecoder().decode(TemplateExpected.self, from: data)
}

/// Conversation 8's tools as JSON text, with the keys in the fixture's order (what `tojson`
/// prints; JSONSerialization would not keep the order). The tests check that it is the
/// fixture's value.
let weatherToolsJSON = #"[{"type": "function", "function": {"name": "get_weather", "description": "The current weather in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city's name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}]"#

final class TemplateTests: XCTestCase {
    /// Renders every conversation with `template` and compares with expected.json's `name`:
    /// through `renderTemplate(_:)` where there are no tools, and always through the JSON
    /// variant (conversation 8 with its tools).
    func checkRenders(_ model: Model, template: String?, name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let e = try templateExpected()
        XCTAssertEqual(e.conversations.count, 9, file: file, line: line)
        let results = try XCTUnwrap(e.templates[name], "expected.json has no \(name)", file: file, line: line).results
        XCTAssertEqual(results.count, e.conversations.count, file: file, line: line)
        let tools = try JSONDecoder().decode(JSONValue.self, from: Data(weatherToolsJSON.utf8))
        var withTools = 0
        for (i, conv) in e.conversations.enumerated() {
            let want = try XCTUnwrap(results[i].output, "\(name) #\(i): jinja2 failed", file: file, line: line)
            var toolsJSON: Data?
            if let t = conv.tools {
                XCTAssertEqual(t, tools, "conversation \(i)'s tools", file: file, line: line)
                toolsJSON = Data(weatherToolsJSON.utf8)
                withTools += 1
            }
            XCTAssertEqual(
                try model.renderTemplate(
                    messagesJSON: try conv.messagesJSON(), toolsJSON: toolsJSON, template: template,
                    addGenerationPrompt: conv.addGenerationPrompt),
                want, "\(name) #\(i) (JSON)", file: file, line: line)
            if toolsJSON == nil {
                XCTAssertEqual(
                    try model.renderTemplate(conv.chatMessages, template: template, addGenerationPrompt: conv.addGenerationPrompt),
                    want, "\(name) #\(i)", file: file, line: line)
            }
        }
        XCTAssertEqual(withTools, 1, "conversations with tools", file: file, line: line)
    }

    // The files' own templates: Phi-3's (none of the built-in formats) and Qwen2's (which
    // llamette also knows as ChatML).
    func testTheFilesTemplateRendersAsJinja2() throws {
        for name in ["ggml-vocab-phi-3", "ggml-vocab-qwen2"] {
            let model = try Model(path: fixture("vocab/\(name).gguf"))
            try checkRenders(model, template: nil, name: name)
        }
        let phi3 = try Model(path: fixture("vocab/ggml-vocab-phi-3.gguf"))
        XCTAssertNil(phi3.info.chatFormat)
        let out = try XCTUnwrap(try templateExpected().templates["ggml-vocab-phi-3"]?.results[2].output)
        XCTAssertTrue(out.hasPrefix("<s><|user|>"))
        // The text tokenizes with its control tokens; it already has BOS.
        XCTAssertEqual(try phi3.tokenize(out, addSpecial: false, parseSpecial: true).first, 1)
    }

    // A template given as Jinja text: Qwen2.5-Instruct's (it reads no bos_token, so the
    // Qwen2 vocabulary renders what jinja2 did), tools listed in the system turn, keys in order.
    func testTemplateGivenAsTextRendersAsJinja2() throws {
        let text = try String(contentsOfFile: fixture("templates/Qwen-Qwen2.5-7B-Instruct.jinja"), encoding: .utf8)
        let model = try Model(path: fixture("vocab/ggml-vocab-qwen2.gguf"))
        try checkRenders(model, template: text, name: "Qwen-Qwen2.5-7B-Instruct")
        let out = try XCTUnwrap(try templateExpected().templates["Qwen-Qwen2.5-7B-Instruct"]?.results[8].output)
        XCTAssertTrue(out.contains(#"{"type": "function", "function": {"name": "get_weather""#))
    }

    func testTemplateTextAndErrors() throws {
        let model = try Model(path: fixture("vocab/ggml-vocab-phi-3.gguf"))
        let template = "{{ bos_token }}{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}"
        XCTAssertEqual(try model.renderTemplate([.user("hé")], template: template), "<s>user=hé;")
        XCTAssertEqual(
            try model.renderTemplate(
                messagesJSON: Data(#"[{"role": "tool", "content": "42"}]"#.utf8), template: template,
                addGenerationPrompt: false),
            "<s>tool=42;")
        // Documents for retrieval-augmented templates; without them the template sees none.
        let rag = "{% for d in documents %}[{{ d.title }}]{% endfor %}{{ documents is none }}"
        let msgs = Data(#"[{"role": "user", "content": "x"}]"#.utf8)
        let docs = Data(#"[{"title": "Paris", "text": "..."}, {"title": "Köln", "text": "..."}]"#.utf8)
        XCTAssertEqual(
            try model.renderTemplate(messagesJSON: msgs, documentsJSON: docs, template: rag), "[Paris][Köln]False")
        XCTAssertEqual(try model.renderTemplate(messagesJSON: msgs, template: rag), "True")
        // A name that is none of the file's alternatives is Jinja text (which prints itself).
        XCTAssertEqual(try model.renderTemplate([], template: "tool_use"), "tool_use")

        XCTAssertThrowsError(try model.renderTemplate([.user("x")], template: "{{ raise_exception('no users here') }}")) { error in
            guard let e = error as? LlametteError, case .badChat = e else { return XCTFail("\(error)") }
            XCTAssertTrue(e.message.contains("no users here"), e.message)
        }
        XCTAssertThrowsError(try model.renderTemplate([], template: "{% for %}")) { error in
            guard let e = error as? LlametteError, case .badChat = e else { return XCTFail("\(error)") }
        }
        for bad in [#"[{"role": "user""#, #"{"role": "user"}"#, ""] {
            XCTAssertThrowsError(try model.renderTemplate(messagesJSON: Data(bad.utf8))) { error in
                guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(bad): \(error)") }
            }
        }
        XCTAssertThrowsError(try model.renderTemplate(messagesJSON: Data("[]".utf8), toolsJSON: Data("[{".utf8))) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
        // A file without a template.
        let gpt2 = try Model(path: fixture("vocab/ggml-vocab-gpt-2.gguf"))
        XCTAssertThrowsError(try gpt2.renderTemplate([.user("Hi")])) { error in
            guard let e = error as? LlametteError, case .invalidArgument = e else { return XCTFail("\(error)") }
        }
    }
}

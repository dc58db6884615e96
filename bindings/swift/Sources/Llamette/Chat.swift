import CLlamette
import Foundation

/// A chat prompt format llamette renders. Where an API takes `ChatFormat?`, nil means the
/// model's own format (from its `tokenizer.chat_template`).
public enum ChatFormat: Sendable, Hashable, CaseIterable {
    /// CodeLlama-70B-Instruct (`Source: system\n\n ... <step> Source: user\n\n ...`).
    case codeLlama70B
    /// Llama 2 chat (`<s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST]`).
    case llama2
    /// ChatML (SmolLM2, Qwen, ...: `<|im_start|>role\n...<|im_end|>\n`).
    case chatML
    /// Llama 3 (`<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>`).
    case llama3

    var cValue: LlametteChatFormat {
        switch self {
        case .codeLlama70B: return LLAMETTE_CHAT_CODELLAMA_70B
        case .llama2: return LLAMETTE_CHAT_LLAMA2
        case .chatML: return LLAMETTE_CHAT_CHATML
        case .llama3: return LLAMETTE_CHAT_LLAMA3
        }
    }

    /// nil for `LLAMETTE_CHAT_NONE` and for formats newer than this binding.
    init?(_ value: LlametteChatFormat) {
        switch value {
        case LLAMETTE_CHAT_CODELLAMA_70B: self = .codeLlama70B
        case LLAMETTE_CHAT_LLAMA2: self = .llama2
        case LLAMETTE_CHAT_CHATML: self = .chatML
        case LLAMETTE_CHAT_LLAMA3: self = .llama3
        default: return nil
        }
    }
}

extension Optional where Wrapped == ChatFormat {
    /// The C value: `LLAMETTE_CHAT_NONE` (the model's own format) for nil.
    var cValue: LlametteChatFormat { self?.cValue ?? LLAMETTE_CHAT_NONE }
}

/// One message of a conversation.
public struct ChatMessage: Sendable, Hashable {
    /// "system", "user" or "assistant" (ChatML and Llama 3 accept any plain word).
    public var role: String
    /// The text.
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    /// A system message.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    /// A user message.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    /// An assistant message.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }
}

/// Calls `body` with the messages as C `LlametteMessage`s, valid during the call only.
func withCMessages<R>(_ messages: [ChatMessage], _ body: (UnsafeBufferPointer<LlametteMessage>) throws -> R) rethrows -> R {
    let arena = CStringArena()
    let cMessages = messages.map { message -> LlametteMessage in
        let role = arena.copy(message.role)
        let content = arena.copy(message.content)
        return LlametteMessage(role: role.pointer, role_len: role.count, content: content.pointer, content_len: content.count)
    }
    return try withExtendedLifetime(arena) {
        try cMessages.withUnsafeBufferPointer(body)
    }
}

extension Model {
    /// Renders a conversation to token ids the way the format's reference code does (for
    /// CodeLlama-70B: Meta's `dialog_prompt_tokens`, which tokenizing the rendered string
    /// cannot reproduce). This is the prompt to generate from.
    /// - Parameters:
    ///   - format: a format, or nil for the model's own.
    ///   - addAssistant: end with the assistant's header, ready for generation.
    /// - Throws: `LlametteError.badChat` for an empty conversation or roles out of order,
    ///   `.invalidArgument` for nil with a model whose template llamette does not know.
    public func chatTokens(_ messages: [ChatMessage], format: ChatFormat? = nil, addAssistant: Bool = true) throws -> [Token] {
        try withCMessages(messages) { msgs -> [Token] in
            try readArray(guess: 64 + messages.reduce(0) { $0 + $1.content.utf8.count + $1.role.utf8.count }) { ids, cap, n in
                llamette_chat_render_ids(handle, format.cValue, msgs.baseAddress, msgs.count, addAssistant, ids, cap, n)
            }
        }
    }

    /// Renders a conversation to the prompt string (what Hugging Face's template renders).
    public func renderChat(_ messages: [ChatMessage], format: ChatFormat? = nil, addAssistant: Bool = true) throws -> String {
        try withCMessages(messages) { msgs -> String in
            try readString { buf, cap, n in
                llamette_chat_render(handle, format.cValue, msgs.baseAddress, msgs.count, addAssistant, buf, cap, n)
            }
        }
    }

    /// The tokens that end the assistant's turn in `format` (nil: the model's own): EOS, plus
    /// `<step>` for CodeLlama-70B, `<|im_end|>` for ChatML, `<|eot_id|>` for Llama 3.
    public func chatStopTokens(format: ChatFormat? = nil) throws -> [Token] {
        try readArray(guess: 4) { ids, cap, n in
            llamette_chat_stop_tokens(handle, format.cValue, ids, cap, n)
        }
    }
}

extension Model {
    /// Renders a conversation with a Jinja chat template, as Hugging Face's
    /// `apply_chat_template(messages, add_generation_prompt=...)` does
    /// (`llamette_chat_render_template`): `bos_token` and `eos_token` are the vocabulary's,
    /// there are no tools. Messages may have any role.
    ///
    /// Tokenize the result with `parseSpecial: true`, and `addSpecial: false` when it already
    /// starts with BOS.
    /// - Parameters:
    ///   - template: nil for the file's own `tokenizer.chat_template`; the name of one of the
    ///     file's alternatives (`tokenizer.chat_template.<name>`, such as "tool_use"); any
    ///     other string is the Jinja text itself.
    ///   - addGenerationPrompt: end with the assistant's header, ready for generation.
    /// - Throws: `LlametteError.badChat` for a template that does not parse, calls what
    ///   llamette does not support or raises an exception itself (the message names it and
    ///   the template's line); `.invalidArgument` for a file without a template.
    public func renderTemplate(_ messages: [ChatMessage], template: String? = nil, addGenerationPrompt: Bool = true) throws -> String {
        try withCMessages(messages) { msgs -> String in
            try withOptionalUTF8(template) { (t, tLen) -> String in
                try readString(guess: 256 + messages.reduce(0) { $0 + $1.content.utf8.count + $1.role.utf8.count + 16 }) { buf, cap, n in
                    llamette_chat_render_template(handle, t, tLen, msgs.baseAddress, msgs.count, addGenerationPrompt, buf, cap, n)
                }
            }
        }
    }

    /// As `renderTemplate(_:template:addGenerationPrompt:)`, with the conversation as
    /// OpenAI-style JSON (`llamette_chat_render_template_json`): `messagesJSON` a JSON array
    /// of message objects handed to the template as they are (`content` a string, null or a
    /// list of parts; `tool_calls`, `name`, ... where the template reads them), `toolsJSON` a
    /// JSON array of tool definitions, the template's `tools`, and `documentsJSON` a JSON array
    /// of documents that retrieval-augmented templates cite, its `documents` (nil: none).
    ///
    /// The bytes are passed as they are, so the template sees the keys in their order (what
    /// `tojson` prints). JSON that does not parse, or messages that are not an array, throws
    /// `LlametteError.invalidArgument`.
    public func renderTemplate(
        messagesJSON: Data, toolsJSON: Data? = nil, documentsJSON: Data? = nil, template: String? = nil,
        addGenerationPrompt: Bool = true
    ) throws -> String {
        // Copies with stable addresses (a Data's bytes have none outside withUnsafeBytes); an
        // empty `messagesJSON` is JSON that does not parse, not a NULL argument.
        let messages = cBytes(messagesJSON)
        let tools = toolsJSON.map(cBytes)
        let documents = documentsJSON.map(cBytes)
        let guess = 256 + messagesJSON.count + (toolsJSON?.count ?? 0) + (documentsJSON?.count ?? 0)
        return try messages.withUnsafeBufferPointer { m -> String in
            try withOptionalArray(tools) { tp -> String in
                try withOptionalArray(documents) { dp -> String in
                    try withOptionalUTF8(template) { (t, tLen) -> String in
                        try readString(guess: guess) { buf, cap, n in
                            llamette_chat_render_template_json(
                                handle, t, tLen, m.baseAddress, messagesJSON.count, tp, toolsJSON?.count ?? 0,
                                dp, documentsJSON?.count ?? 0, addGenerationPrompt, buf, cap, n)
                        }
                    }
                }
            }
        }
    }
}

/// Calls `body` with `string`'s UTF-8 bytes and their count, or (NULL, 0) for nil.
func withOptionalUTF8<R>(_ string: String?, _ body: (UnsafePointer<CChar>?, Int) throws -> R) rethrows -> R {
    guard var string else { return try body(nil, 0) }
    if string.isEmpty { return try "".withCString { try body($0, 0) } } // not NULL
    return try string.withUTF8 { utf8 in
        try body(UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self), utf8.count)
    }
}

/// A copy of `data` as C bytes (at least one, so that the address is never NULL).
func cBytes(_ data: Data) -> [CChar] {
    var bytes = [CChar](repeating: 0, count: max(data.count, 1))
    bytes.withUnsafeMutableBytes { _ = data.copyBytes(to: $0) }
    return bytes
}

/// Calls `body` with the array's base address, or NULL for nil.
func withOptionalArray<T, R>(_ array: [T]?, _ body: (UnsafePointer<T>?) throws -> R) rethrows -> R {
    guard let array else { return try body(nil) }
    return try array.withUnsafeBufferPointer { try body($0.baseAddress) }
}

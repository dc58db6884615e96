import CLlamette
import Foundation

/// A grammar that constrains what a sampler chooses: GBNF (llama.cpp's format), a JSON schema,
/// a regular expression or any JSON object, checked when it is made. Immutable and without a
/// model, so one grammar may be set on any number of samplers from any threads; each sampler
/// keeps its own compiled copy (`Sampler.setGrammar`).
///
/// ```swift
/// let answer = try Grammar(gbnf: #"root ::= "yes" | "no""#)
/// let person = try Grammar(jsonSchema: #"{"type": "object", "required": ["name"]}"#)
/// ```
public final class Grammar: @unchecked Sendable, Equatable {
    let handle: OpaquePointer

    private init(make: (UnsafeMutablePointer<OpaquePointer?>) -> LlametteStatus) throws {
        var out: OpaquePointer?
        try check(make(&out))
        handle = out!
    }

    deinit { llamette_grammar_free(handle) }

    /// Parses a GBNF grammar (llama.cpp's `grammars/README.md`), starting at rule `root`.
    /// - Parameter model: resolves tokens written by text (`<|im_end|>`) in its vocabulary;
    ///   without it such an element is an error. Set the grammar on samplers of that model.
    /// - Throws: `LlametteError.badGrammar` whose message says the line and column.
    public convenience init(gbnf text: String, root: String = "root", model: Model? = nil) throws {
        try self.init { out in
            withUTF8(text) { chars, count in
                root.withCString { cRoot in
                    withExtendedLifetime(model) {
                        llamette_grammar_from_gbnf(model?.handle, chars, count, cRoot, out)
                    }
                }
            }
        }
    }

    /// Compiles a JSON schema (its JSON text): the output is one JSON value that validates
    /// against it, with llama.cpp's whitespace between items.
    /// - Throws: `LlametteError.badGrammar` (text that is not JSON: the line and column).
    public convenience init(jsonSchema schema: String) throws {
        try self.init { out in
            withUTF8(schema) { chars, count in llamette_grammar_from_json_schema(chars, count, out) }
        }
    }

    /// Compiles a regular expression (Rust `regex` syntax) that the whole output must match.
    public convenience init(regex pattern: String) throws {
        try self.init { out in
            withUTF8(pattern) { chars, count in llamette_grammar_from_regex(chars, count, out) }
        }
    }

    /// Any JSON object.
    public static func jsonObject() throws -> Grammar {
        try Grammar { out in llamette_grammar_json_object(out) }
    }

    /// Identity: two grammars are equal when they are the same object.
    public static func == (a: Grammar, b: Grammar) -> Bool { a === b }
}

/// Runs `body` with the UTF-8 bytes of `text` (NULL and 0 when it is empty).
private func withUTF8<R>(_ text: String, _ body: (UnsafePointer<CChar>?, Int) -> R) -> R {
    var text = text
    return text.withUTF8 { utf8 in
        body(UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self), utf8.count)
    }
}

extension Sampler {
    /// Constrains the sampler with `grammar` (nil removes its grammar): `sample(from:)` and
    /// generation then choose only tokens it allows, and the end-of-generation tokens exactly
    /// when the text is a complete match. The grammar starts at its beginning; generation
    /// advances it, a loop of one's own with `acceptSampled(_:)`. `reset()` takes it back to the
    /// beginning; `setLogitBias(_:)` keeps it where it is. When it allows no token,
    /// `sample(from:)` throws `LlametteError.constraint` and generation stops with
    /// `StopReason.grammar`.
    public func setGrammar(_ grammar: Grammar?) throws {
        try lock.locked {
            try withExtendedLifetime(grammar) {
                try check(llamette_sampler_set_grammar(handle, grammar?.handle))
            }
        }
    }

    /// Records a token one's own loop generated (from `sample(from:)`): in the penalties'
    /// history, as `accept(_:)` does, and in the grammar, which advances past it.
    /// - Throws: `LlametteError.constraint` for a token the grammar does not allow (nothing
    ///   changes), `LlametteError.badToken` for one outside the vocabulary.
    public func acceptSampled(_ token: Token) throws {
        try lock.locked { try check(llamette_sampler_accept_sampled(handle, token)) }
    }
}

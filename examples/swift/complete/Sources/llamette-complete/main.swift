// llamette-complete MODEL.gguf [QUESTION] [MAX_TOKENS]
//
// Streams the model's answer to QUESTION (a one-message chat in the model's own format),
// greedily, printing each piece as it arrives. Ctrl-C cancels the task that reads the stream,
// which raises llamette's abort flag: generation stops before its next token.
import Dispatch
import Foundation
import Llamette

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: llamette-complete MODEL.gguf [QUESTION] [MAX_TOKENS]\n".utf8))
    exit(2)
}
let question = arguments.count > 2 ? arguments[2] : "What is the capital of France?"
let maxTokens = arguments.count > 3 ? Int(arguments[3]) : 256

do {
    let model = try Model(path: arguments[1])
    let context = try Context(model: model, options: ContextOptions(contextLength: 2048))
    let options = GenerationOptions(maxTokens: maxTokens, sampling: .greedy)

    let task = Task {
        for try await piece in context.generate(.chat([.user(question)]), options: options) {
            print(piece, terminator: "")
            fflush(stdout)
        }
        print()
    }

    // Ctrl-C: cancel the reading task (and with it the generation) instead of dying mid-line.
    signal(SIGINT, SIG_IGN)
    let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .main)
    interrupt.setEventHandler { task.cancel() }
    interrupt.resume()

    try await task.value
    interrupt.cancel()
} catch {
    FileHandle.standardError.write(Data("llamette-complete: \(error)\n".utf8))
    exit(1)
}

import CLlamette
import Dispatch
import Foundation

/// How a context runs the tasks llamette splits its work into (llamette never starts a
/// thread of its own: the host runs them).
public enum Parallelism: Sendable, Equatable {
    /// Every task inline on the calling thread.
    case serial
    /// `DispatchQueue.concurrentPerform` over the tasks of each operation (GCD's own worker
    /// threads, sized to the machine); `width` tells llamette how many tasks may usefully run
    /// at once (a splitting hint).
    case dispatch(width: Int)

    /// `.dispatch` with the number of active processors as width.
    public static var automatic: Parallelism {
        .dispatch(width: ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// The host side of `LlametteParallelFn` for `.dispatch`: the context holds it strongly while
/// it is installed, and llamette hands it back as the `user` pointer (unretained).
final class DispatchRunner: @unchecked Sendable {
    // Counters written only by the context's thread (inside llamette_eval/generate, one thread
    // at a time) and read under the context's lock: no lock of their own.
    private(set) var calls: UInt64 = 0
    private(set) var tasks: UInt64 = 0

    func run(_ nTasks: UInt32, _ task: LlametteTaskFn, _ taskContext: UnsafeMutableRawPointer?) {
        calls &+= 1
        tasks &+= UInt64(nTasks)
        if nTasks == 1 {
            task(taskContext, 0) // no hand-off for a single task
            return
        }
        // Returns when every iteration has returned, as the contract requires.
        DispatchQueue.concurrentPerform(iterations: Int(nTasks)) { index in
            task(taskContext, UInt32(truncatingIfNeeded: index))
        }
    }
}

/// The `LlametteParallelFn` llamette calls: a C function pointer (a closure that captures
/// nothing), which finds its `DispatchRunner` through `user`.
let dispatchParallelFn: LlametteParallelFn = { user, nTasks, task, taskContext in
    guard let user, let task else { return } // never NULL; llamette reports missing calls
    Unmanaged<DispatchRunner>.fromOpaque(user).takeUnretainedValue().run(nTasks, task, taskContext)
}

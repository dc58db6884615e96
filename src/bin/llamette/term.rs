//! The terminal side: Ctrl-C, colours, and reading a line that Ctrl-C can interrupt.
//!
//! Ctrl-C (SIGINT) only counts: the generation loop looks at the count between tokens and the
//! line reader when its `read` returns `EINTR` (the handler is installed without `SA_RESTART`),
//! so nothing but an atomic add happens inside the handler. A third Ctrl-C before the program
//! has reacted to the first two (a long prompt step) exits at once with status 130.

use std::io::{BufRead, ErrorKind};
use std::sync::atomic::{AtomicU32, Ordering};

/// Ctrl-C presses since [`reset`].
static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

/// The exit status after Ctrl-C (128 + SIGINT), as llama.cpp and shells use.
pub const INTERRUPTED_EXIT: u8 = 130;

/// Ctrl-C presses since the last [`reset`].
pub fn interrupts() -> u32 {
    INTERRUPTS.load(Ordering::SeqCst)
}

/// Starts counting Ctrl-C presses from zero (at the start of each reply).
pub fn reset() {
    INTERRUPTS.store(0, Ordering::SeqCst);
}

#[cfg(unix)]
mod imp {
    use super::INTERRUPTS;
    use std::os::raw::c_int;
    use std::sync::atomic::Ordering;

    /// SIGINT's number on every Unix.
    const SIGINT: c_int = 2;

    extern "C" {
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
        fn siginterrupt(signum: c_int, flag: c_int) -> c_int;
        fn write(fd: c_int, buf: *const u8, count: usize) -> isize;
        fn _exit(status: c_int) -> !;
    }

    extern "C" fn on_sigint(_: c_int) {
        let n = INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1;
        if n >= 3 {
            // SAFETY: `write` and `_exit` are async-signal-safe; the buffer is a static.
            unsafe {
                write(2, b"\n".as_ptr(), 1);
                _exit(super::INTERRUPTED_EXIT as c_int);
            }
        }
    }

    pub fn install() {
        // SAFETY: `on_sigint` only touches an atomic (and, past the third press, calls
        // async-signal-safe functions); `siginterrupt(SIGINT, 1)` clears SA_RESTART so a
        // blocked read returns EINTR. Both are plain libc calls with valid arguments.
        unsafe {
            signal(SIGINT, on_sigint);
            siginterrupt(SIGINT, 1);
        }
    }
}

#[cfg(not(unix))]
mod imp {
    /// Elsewhere Ctrl-C keeps its default action (the process ends).
    pub fn install() {}
}

/// Installs the Ctrl-C handler (Unix; elsewhere Ctrl-C ends the program as usual).
pub fn install_interrupt_handler() {
    imp::install();
}

/// What reading a line gave.
pub enum Line {
    /// A line, without its line ending.
    Text(String),
    /// A line that is not UTF-8.
    NotUtf8,
    /// End of input.
    Eof,
    /// Ctrl-C while waiting.
    Interrupted,
}

/// Reads one line; returns [`Line::Interrupted`] as soon as Ctrl-C is pressed while waiting.
pub fn read_line(input: &mut impl BufRead) -> std::io::Result<Line> {
    let mut bytes = Vec::new();
    loop {
        if interrupts() > 0 {
            return Ok(Line::Interrupted);
        }
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            if bytes.is_empty() {
                return Ok(Line::Eof);
            }
            break;
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                bytes.extend_from_slice(&buf[..at]);
                input.consume(at + 1);
                break;
            }
            None => {
                bytes.extend_from_slice(buf);
                let n = buf.len();
                input.consume(n);
            }
        }
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => Line::Text(s),
        Err(_) => Line::NotUtf8,
    })
}

/// ANSI colours, as llama.cpp's console uses them; empty strings when colours are off.
#[derive(Clone, Copy)]
pub struct Colors {
    /// Before the echoed prompt (yellow).
    pub prompt: &'static str,
    /// Before the user's typing (bold green).
    pub input: &'static str,
    /// Back to the terminal's colour, before the answer.
    pub reset: &'static str,
}

impl Colors {
    /// Colours when `on`, else none.
    pub fn new(on: bool) -> Colors {
        if on {
            Colors {
                prompt: "\x1b[33m",
                input: "\x1b[1m\x1b[32m",
                reset: "\x1b[0m",
            }
        } else {
            Colors {
                prompt: "",
                input: "",
                reset: "",
            }
        }
    }
}

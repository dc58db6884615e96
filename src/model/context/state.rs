//! Saving and restoring a context's state (llama.cpp's `llama_state_*` and
//! `llama_state_seq_*`): the cells, their keys and values, and (for a whole context) the last
//! logits, in bytes the host owns.
//!
//! The format (little-endian), version 1:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `LLMTSTAT` |
//! | 4 | version (1) |
//! | 4 | kind: 0 a whole context, 1 one sequence |
//! | 16 | the model's identity: two SipHash-2-4 of its GGUF header (metadata and tensor table) |
//! | 4 x 5 | KV type (0 F16, 1 F32), layers, KV heads, head size, vocabulary size |
//! | 4 x 4 | cells saved, the saving context's cells (`n_ctx`), its head, logits rows saved |
//! | 8 | payload bytes |
//! | 8 | SipHash-2-4 of the payload |
//!
//! The payload: per saved cell (in cell order) its index, position (u32), sequence set (u64),
//! the rotation its key still waits for (i64, after [`Context::seq_add`]), its token (u32) and
//! 4 zero bytes; the logits rows' batch indices (u64) and the rows (f32); the keys, layer by layer,
//! KV head by KV head, cell by cell (`head_dim` elements); the values, layer by layer, KV head
//! by KV head, dimension by dimension, cell by cell. A whole-context state restores every cell
//! at its own index, so continuing gives the bits of never having saved.

use alloc::format;
use alloc::string::String;

use super::{Context, SeqSet, CELL_WORDS, MAX_POS, V_PAD};
use crate::error::{Error, Result};
use crate::tokenizer::index::SipHasher;

const MAGIC: &[u8; 8] = b"LLMTSTAT";
const VERSION: u32 = 1;
const HEADER: usize = 84;
/// The SipHash key of the payload checksum.
const PAYLOAD_KEY: u64 = 0x7061_796c_6f61_6431;
const KIND_CONTEXT: u32 = 0;
const KIND_SEQUENCE: u32 = 1;
/// Bytes per saved cell in the payload.
const CELL_BYTES: usize = 32;

fn bad(reason: impl Into<String>) -> Error {
    Error::BadState {
        reason: reason.into(),
    }
}

fn sip(key: u64, bytes: &[u8]) -> u64 {
    let mut h = SipHasher::<2, 4>::new(key, !key);
    h.write(bytes);
    h.finish()
}

/// Reads little-endian fields in order.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Result<&'b [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| bad("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or([0; 4]),
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or([0; 8]),
        ))
    }
}

/// Writes little-endian fields in order into a buffer already checked to be large enough.
struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.out[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
}

/// The parsed header of a state.
struct Header {
    n_cells: usize,
    n_ctx: usize,
    head: usize,
    n_outputs: usize,
    payload: usize,
}

/// One saved cell, as the payload holds it.
struct CellRecord {
    index: usize,
    pos: usize,
    seqs: u64,
    shift: u64,
    token: u64,
}

/// Saved cell `k` of a payload whose length the header checked (so it is in bounds).
fn cell_record(payload: &[u8], k: usize) -> CellRecord {
    let rec = &payload[k * CELL_BYTES..][..CELL_BYTES];
    let word = |at: usize, n: usize| {
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&rec[at..at + n]);
        u64::from_le_bytes(w)
    };
    CellRecord {
        index: word(0, 4) as usize,
        pos: word(4, 4) as usize,
        seqs: word(8, 8),
        shift: word(16, 8),
        token: word(24, 4),
    }
}

impl Context<'_> {
    /// The model's identity: two hashes of its GGUF header region.
    fn model_identity(&self) -> [u64; 2] {
        let h = self.model.header();
        let n = usize::try_from(h.data_offset())
            .unwrap_or(usize::MAX)
            .min(h.bytes().len());
        let region = &h.bytes()[..n];
        [
            sip(0x6c6c_616d_6574_7465, region),
            sip(0x7374_6174_6531_0001, region),
        ]
    }

    /// The shape fields a state must match: KV type, layers, KV heads, head size, vocabulary.
    fn shape_fields(&self) -> [u32; 5] {
        let c = self.model.config();
        [
            match self.params.kv_type {
                super::KvType::F16 => 0,
                super::KvType::F32 => 1,
            },
            c.n_layer as u32,
            c.n_head_kv as u32,
            c.head_dim as u32,
            c.n_vocab as u32,
        ]
    }

    fn kv_elem(&self) -> usize {
        self.params.kv_type.ggml().type_size()
    }

    /// Bytes of keys and values per cell, over all layers.
    fn kv_bytes_per_cell(&self) -> usize {
        let c = self.model.config();
        2 * c.n_layer * c.n_head_kv * c.head_dim * self.kv_elem()
    }

    /// The cells `seq` holds (`None`: every cell in use), in cell order.
    fn saved_cells(&self, seq: Option<usize>) -> impl Iterator<Item = usize> + '_ {
        (0..self.params.n_ctx).filter(move |&i| {
            self.cell(i)
                .is_some_and(|(_, s)| seq.is_none_or(|q| s.contains(q)))
        })
    }

    fn payload_len(&self, n_cells: usize, n_outputs: usize) -> Option<usize> {
        let n_vocab = self.model.config().n_vocab;
        n_cells
            .checked_mul(CELL_BYTES + self.kv_bytes_per_cell())?
            .checked_add(n_outputs.checked_mul(8 + 4 * n_vocab)?)
    }

    fn state_len(&self, seq: Option<usize>) -> usize {
        let n_cells = self.saved_cells(seq).count();
        let n_out = if seq.is_none() { self.n_outputs } else { 0 };
        // A context's own state always fits in memory: it is smaller than the context.
        HEADER
            + self
                .payload_len(n_cells, n_out)
                .unwrap_or(usize::MAX - HEADER)
    }

    /// Bytes [`Context::state_write`] writes: the whole context (every sequence's cells, keys
    /// and values, and the last logits).
    pub fn state_size(&self) -> usize {
        self.state_len(None)
    }

    /// Bytes [`Context::seq_state_write`] writes for sequence `seq`.
    pub fn seq_state_size(&self, seq: usize) -> Result<usize> {
        self.check_seq(seq)?;
        Ok(self.state_len(Some(seq)))
    }

    /// Writes the whole context's state into `out` (at least [`Context::state_size`] bytes;
    /// else [`Error::BufferTooSmall`]); returns the bytes written. Allocates nothing.
    pub fn state_write(&self, out: &mut [u8]) -> Result<usize> {
        self.write_state(None, out)
    }

    /// Writes sequence `seq`'s cells, keys and values into `out` (llama.cpp's
    /// `llama_state_seq_get_data`); returns the bytes written.
    pub fn seq_state_write(&self, seq: usize, out: &mut [u8]) -> Result<usize> {
        self.check_seq(seq)?;
        self.write_state(Some(seq), out)
    }

    fn write_state(&self, seq: Option<usize>, out: &mut [u8]) -> Result<usize> {
        let total = self.state_len(seq);
        if out.len() < total {
            return Err(Error::BufferTooSmall {
                needed: total,
                given: out.len(),
            });
        }
        let n_cells = self.saved_cells(seq).count();
        let n_out = if seq.is_none() { self.n_outputs } else { 0 };
        let c = self.model.config();
        let e = self.kv_elem();
        let hd = c.head_dim;
        let n_ctx = self.params.n_ctx;
        let v_stride = n_ctx.next_multiple_of(V_PAD);
        let mem = self.mem();
        let (k_at, _) = self.layout.k_cache;
        let (v_at, _) = self.layout.v_cache;
        {
            let mut w = Writer {
                out: &mut out[HEADER..total],
                at: 0,
            };
            for i in self.saved_cells(seq) {
                let cell = &self.cells()[i * CELL_WORDS..][..CELL_WORDS];
                w.u32(i as u32);
                w.u32((cell[1] - 1) as u32);
                w.u64(match seq {
                    Some(s) => SeqSet::one(s).0,
                    None => cell[0],
                });
                w.u64(cell[3]);
                w.u32(cell[4] as u32);
                w.u32(0);
            }
            if n_out > 0 {
                let (ids_at, ids_len) = self.layout.out_ids;
                let ids = crate::kernels::as_u64(&mem[ids_at..ids_at + ids_len]);
                for &id in &ids[..n_out] {
                    w.u64(id);
                }
                for r in 0..n_out {
                    for &x in self.logits_at(r).unwrap_or(&[]) {
                        w.put(&x.to_le_bytes());
                    }
                }
            }
            for layer in 0..c.n_layer {
                for g in 0..c.n_head_kv {
                    let base = k_at + (layer * c.n_head_kv + g) * n_ctx * hd * e;
                    for i in self.saved_cells(seq) {
                        w.put(&mem[base + i * hd * e..][..hd * e]);
                    }
                }
            }
            for layer in 0..c.n_layer {
                for g in 0..c.n_head_kv {
                    let base = v_at + (layer * c.n_head_kv + g) * v_stride * hd * e;
                    for d in 0..hd {
                        for i in self.saved_cells(seq) {
                            w.put(&mem[base + (d * v_stride + i) * e..][..e]);
                        }
                    }
                }
            }
            debug_assert_eq!(w.at, total - HEADER);
        }
        let checksum = sip(PAYLOAD_KEY, &out[HEADER..total]);
        let id = self.model_identity();
        let mut w = Writer {
            out: &mut out[..HEADER],
            at: 0,
        };
        w.put(MAGIC);
        w.u32(VERSION);
        w.u32(if seq.is_none() {
            KIND_CONTEXT
        } else {
            KIND_SEQUENCE
        });
        w.u64(id[0]);
        w.u64(id[1]);
        for f in self.shape_fields() {
            w.u32(f);
        }
        w.u32(n_cells as u32);
        w.u32(n_ctx as u32);
        w.u32(self.head as u32);
        w.u32(n_out as u32);
        w.u64((total - HEADER) as u64);
        w.u64(checksum);
        debug_assert_eq!(w.at, HEADER);
        Ok(total)
    }

    /// Parses and checks a state's header and checksum against this context and model.
    fn read_header(&self, bytes: &[u8], kind: u32) -> Result<Header> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(8).map_err(|_| bad("too short to be a state"))? != MAGIC {
            return Err(bad("not a llamette state (no LLMTSTAT magic)"));
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(bad(format!(
                "state version {version}; this llamette reads version {VERSION}"
            )));
        }
        let got_kind = r.u32()?;
        if got_kind != kind {
            return Err(bad(match got_kind {
                KIND_CONTEXT => "a whole-context state, not a sequence's",
                KIND_SEQUENCE => "a sequence's state, not a whole context's",
                _ => "an unknown kind of state",
            }));
        }
        let id = [r.u64()?, r.u64()?];
        if id != self.model_identity() {
            return Err(bad("the state was saved with another model"));
        }
        let names = [
            "KV type",
            "layer count",
            "KV head count",
            "head size",
            "vocabulary size",
        ];
        for (name, want) in names.iter().zip(self.shape_fields()) {
            let got = r.u32()?;
            if got != want {
                return Err(bad(format!("{name} {got}, this context has {want}")));
            }
        }
        let n_cells = r.u32()? as usize;
        let n_ctx = r.u32()? as usize;
        let head = r.u32()? as usize;
        let n_outputs = r.u32()? as usize;
        let payload = usize::try_from(r.u64()?).map_err(|_| bad("impossible payload size"))?;
        let checksum = r.u64()?;
        let want = self
            .payload_len(n_cells, n_outputs)
            .ok_or_else(|| bad("impossible cell count"))?;
        if payload != want {
            return Err(bad(format!(
                "the payload is {payload} bytes; {n_cells} cells and {n_outputs} logits rows take {want}"
            )));
        }
        if bytes.len() < HEADER + payload {
            return Err(bad(format!(
                "truncated: {} bytes of {}",
                bytes.len(),
                HEADER + payload
            )));
        }
        if sip(PAYLOAD_KEY, &bytes[HEADER..HEADER + payload]) != checksum {
            return Err(bad("corrupted: the checksum does not match"));
        }
        Ok(Header {
            n_cells,
            n_ctx,
            head,
            n_outputs,
            payload,
        })
    }

    /// Restores a whole-context state written by [`Context::state_write`] (this model and KV
    /// type; a context with at least as many cells as the state uses): every cell at its own
    /// index with its keys and values, and the last logits, so continuing gives the bits of
    /// never having saved. Errors ([`Error::BadState`]) leave the context as it was.
    /// Allocates nothing.
    pub fn state_read(&mut self, bytes: &[u8]) -> Result<()> {
        let h = self.read_header(bytes, KIND_CONTEXT)?;
        let payload = &bytes[HEADER..HEADER + h.payload];
        let n_ctx = self.params.n_ctx;
        let valid = SeqSet::first_n(self.params.n_seq_max).0;
        // Check every cell record and the logits rows first.
        let mut prev = None;
        for k in 0..h.n_cells {
            let CellRecord {
                index: i,
                pos,
                seqs,
                ..
            } = cell_record(payload, k);
            if i >= n_ctx {
                return Err(bad(format!(
                    "the state uses cell {i}; this context has {n_ctx} (it was saved from one of {})",
                    h.n_ctx
                )));
            }
            if prev.is_some_and(|p| i <= p) {
                return Err(bad("cells out of order"));
            }
            prev = Some(i);
            if pos > MAX_POS || seqs == 0 || seqs & !valid != 0 {
                return Err(bad(format!(
                    "cell {i}: position {pos} or sequences {seqs:#x} out of range (n_seq_max {})",
                    self.params.n_seq_max
                )));
            }
        }
        if h.n_outputs > self.layout.n_out {
            return Err(bad(format!(
                "{} logits rows; this context keeps {}",
                h.n_outputs, self.layout.n_out
            )));
        }
        let mut r = Reader {
            bytes: payload,
            at: h.n_cells * CELL_BYTES,
        };
        let mut last = None;
        for _ in 0..h.n_outputs {
            let id = r.u64()?;
            if last.is_some_and(|l| id <= l) {
                return Err(bad("logits rows out of order"));
            }
            last = Some(id);
        }
        // Everything is checked: restore.
        self.clear();
        self.epoch += 1;
        let ids_start = h.n_cells * CELL_BYTES;
        let logits_start = ids_start + 8 * h.n_outputs;
        let kv_start = logits_start + 4 * h.n_outputs * self.model.config().n_vocab;
        let epoch = self.epoch;
        let mut shifted = false;
        {
            let cells = self.cells_mut();
            for k in 0..h.n_cells {
                let rec = cell_record(payload, k);
                let c = &mut cells[rec.index * CELL_WORDS..][..CELL_WORDS];
                c.copy_from_slice(&[rec.seqs, rec.pos as u64 + 1, epoch, rec.shift, rec.token]);
                shifted |= rec.shift != 0;
            }
        }
        self.has_shift = shifted;
        self.used = h.n_cells;
        self.head = if h.head < n_ctx { h.head } else { 0 };
        let cell_index = |k: usize| cell_record(payload, k).index;
        self.copy_kv_in(&payload[kv_start..], h.n_cells, &cell_index);
        if h.n_outputs > 0 {
            let n_vocab = self.model.config().n_vocab;
            let (ids_at, ids_len) = self.layout.out_ids;
            let (logits_at, logits_len) = self.layout.logits;
            let mem = self.mem_mut();
            let ids = crate::kernels::as_u64_mut(&mut mem[ids_at..ids_at + ids_len]);
            for (r, id) in ids[..h.n_outputs].iter_mut().enumerate() {
                let b = &payload[ids_start + 8 * r..][..8];
                *id = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            }
            let rows = crate::kernels::as_f32_mut(&mut mem[logits_at..logits_at + logits_len]);
            for (j, x) in rows[..h.n_outputs * n_vocab].iter_mut().enumerate() {
                let b = &payload[logits_start + 4 * j..][..4];
                *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        self.n_outputs = h.n_outputs;
        Ok(())
    }

    /// Restores a sequence's state written by [`Context::seq_state_write`] (of this context or
    /// another of the same model and KV type) as sequence `dst` (llama.cpp's
    /// `llama_state_seq_set_data`): what `dst` held is removed, and the saved cells go, in
    /// order, into the first run of free cells from the head, with their positions. Errors
    /// ([`Error::BadState`], [`Error::ContextFull`] where no run of free cells is long enough)
    /// leave the context as it was. Allocates nothing.
    pub fn seq_state_read(&mut self, dst: usize, bytes: &[u8]) -> Result<()> {
        self.check_seq(dst)?;
        let h = self.read_header(bytes, KIND_SEQUENCE)?;
        let payload = &bytes[HEADER..HEADER + h.payload];
        let mut prev_pos = None;
        for k in 0..h.n_cells {
            let pos = cell_record(payload, k).pos;
            if pos > MAX_POS {
                return Err(bad(format!("position {pos} out of range")));
            }
            if prev_pos.is_some_and(|p| pos <= p) {
                return Err(bad("a sequence's positions must increase"));
            }
            prev_pos = Some(pos);
        }
        // The cells free once `dst` is removed: find a run of n_cells of them (llama.cpp's
        // contiguous `find_slot`), without changing anything yet.
        let n_ctx = self.params.n_ctx;
        let only_dst = SeqSet::one(dst);
        let free_after = |ctx: &Self, i: usize| ctx.cell(i).is_none_or(|(_, s)| s == only_dst);
        let n = h.n_cells;
        let start = if n == 0 {
            Some(0)
        } else {
            let mut found = None;
            let mut head = if self.head > self.used + 2 * n {
                0
            } else {
                self.head
            };
            let mut tested = 0usize;
            'search: while tested < n_ctx {
                if head + n > n_ctx {
                    tested += n_ctx - head;
                    head = 0;
                    continue;
                }
                for k in 0..n {
                    let i = head;
                    head += 1;
                    tested += 1;
                    if !free_after(self, i) {
                        continue 'search;
                    }
                    if k + 1 == n {
                        found = Some(i + 1 - n);
                        break 'search;
                    }
                }
            }
            found
        };
        let Some(start) = start else {
            return Err(Error::ContextFull {
                n_ctx,
                needed: self.used + n,
            });
        };
        // Restore.
        self.seq_rm(Some(dst), ..)?;
        self.epoch += 1;
        let epoch = self.epoch;
        let mut shifted = false;
        {
            let cells = self.cells_mut();
            for k in 0..n {
                let rec = cell_record(payload, k);
                let c = &mut cells[(start + k) * CELL_WORDS..][..CELL_WORDS];
                c.copy_from_slice(&[only_dst.0, rec.pos as u64 + 1, epoch, rec.shift, rec.token]);
                shifted |= rec.shift != 0;
            }
        }
        self.has_shift |= shifted;
        self.used += n;
        if n > 0 {
            self.head = start + n;
        }
        self.copy_kv_in(&payload[n * CELL_BYTES..], n, &|k| start + k);
        Ok(())
    }

    /// Copies saved keys and values (laid out as the state format has them) for `n` cells,
    /// the `k`-th into cell `cell(k)`.
    fn copy_kv_in(&mut self, kv: &[u8], n: usize, cell: &dyn Fn(usize) -> usize) {
        let c = self.model.config();
        let (n_layer, n_head_kv, hd) = (c.n_layer, c.n_head_kv, c.head_dim);
        let e = self.kv_elem();
        let n_ctx = self.params.n_ctx;
        let v_stride = n_ctx.next_multiple_of(V_PAD);
        let (k_at, _) = self.layout.k_cache;
        let (v_at, _) = self.layout.v_cache;
        let mem = self.mem_mut();
        let mut at = 0usize;
        for layer in 0..n_layer {
            for g in 0..n_head_kv {
                let base = k_at + (layer * n_head_kv + g) * n_ctx * hd * e;
                for k in 0..n {
                    let dst = base + cell(k) * hd * e;
                    mem[dst..dst + hd * e].copy_from_slice(&kv[at..at + hd * e]);
                    at += hd * e;
                }
            }
        }
        for layer in 0..n_layer {
            for g in 0..n_head_kv {
                let base = v_at + (layer * n_head_kv + g) * v_stride * hd * e;
                for d in 0..hd {
                    for k in 0..n {
                        let dst = base + (d * v_stride + cell(k)) * e;
                        mem[dst..dst + e].copy_from_slice(&kv[at..at + e]);
                        at += e;
                    }
                }
            }
        }
    }

    /// Writes the whole context's state to a file ([`Context::state_write`]'s bytes).
    #[cfg(feature = "std")]
    pub fn save_state_file(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let mut bytes = alloc::vec![0u8; self.state_size()];
        let n = self.state_write(&mut bytes)?;
        std::fs::write(path, &bytes[..n]).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Restores a whole-context state from a file written by [`Context::save_state_file`].
    #[cfg(feature = "std")]
    pub fn load_state_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.state_read(&bytes)
    }
}

/// Recomputes the checksum of a state (as [`Context::state_write`] wrote it) after a
/// deliberate edit of its payload, so that restoring checks the edited content itself: for
/// tests and fuzzing. Returns `false`, changing nothing, when `bytes` is not long enough to
/// hold the header and the payload it declares.
pub fn reseal_state(bytes: &mut [u8]) -> bool {
    if bytes.len() < HEADER {
        return false;
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[HEADER - 16..HEADER - 8]);
    let Some(end) = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .and_then(|n| n.checked_add(HEADER))
        .filter(|&e| e <= bytes.len())
    else {
        return false;
    };
    let sum = sip(PAYLOAD_KEY, &bytes[HEADER..end]);
    bytes[HEADER - 8..HEADER].copy_from_slice(&sum.to_le_bytes());
    true
}

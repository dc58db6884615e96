package llamette

/*
#include <stdlib.h>
#include <string.h>
#include "llamette.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Token is a token id of a model's vocabulary (0 .. ModelInfo.NVocab-1).
type Token uint32

// ChatFormat is a chat prompt format.
type ChatFormat int

// The chat formats llamette renders. ChatNone as an argument means the model's own format
// (from its tokenizer.chat_template).
const (
	ChatNone         ChatFormat = C.LLAMETTE_CHAT_NONE
	ChatCodeLlama70B ChatFormat = C.LLAMETTE_CHAT_CODELLAMA_70B
	ChatLlama2       ChatFormat = C.LLAMETTE_CHAT_LLAMA2
	ChatChatML       ChatFormat = C.LLAMETTE_CHAT_CHATML
	ChatLlama3       ChatFormat = C.LLAMETTE_CHAT_LLAMA3
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// ModelInfo holds a model's hyperparameters and special tokens.
type ModelInfo struct {
	NVocab, NEmbd, NLayer, NFF, NHead, NHeadKV, HeadDim, NCtxTrain uint32
	RopeFreqBase, RMSEps                                           float32
	BOS, EOS, EOT                                                  int32 // -1 when absent
	ChatFormat                                                     ChatFormat
	CopiedBytes                                                    uint64
}

// Model is a loaded GGUF model. It is immutable: its methods may be called from many
// goroutines at once, and contexts on many goroutines may share it. Close releases the
// caller's handle; contexts, samplers and detokenizers made from the model keep what they need
// (the C model and, for FromBytes, the bytes) until they are closed too. A finalizer releases a
// model that becomes unreachable without Close, but call Close to free memory promptly.
type Model struct {
	core   *modelCore
	closed atomic.Bool
}

// modelCore is the C model and the memory it borrows, shared (reference-counted) by the Model
// and every Context, Sampler and Detokenizer made from it.
type modelCore struct {
	h    *C.LlametteModel
	buf  *cBuffer // FromBytes: the C copy of the file; nil for Load
	refs atomic.Int32
	info ModelInfo
}

func (c *modelCore) retain() *modelCore {
	c.refs.Add(1)
	return c
}

func (c *modelCore) release() {
	if c.refs.Add(-1) != 0 {
		return
	}
	C.llamette_model_free(c.h)
	c.h = nil
	c.buf.free()
	liveModels.Add(-1)
}

// Load maps the GGUF file at path (for a split model, its first part). The file must not be
// modified while the model or anything made from it lives.
func Load(path string) (*Model, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var h *C.LlametteModel
	if err := call("Load", func() uint32 { return C.llamette_model_load(cpath, &h) }); err != nil {
		return nil, err
	}
	return newModel(h, nil)
}

// FromBytes loads a model from a GGUF file held in memory. The library borrows the bytes
// without copying them, but C may not keep pointers into Go memory (which Go 1.19 cannot pin),
// so the binding copies data once into C memory (malloc) and frees that copy when the model
// and every context, sampler and detokenizer made from it are closed. The caller may reuse
// data as soon as FromBytes returns.
func FromBytes(data []byte) (*Model, error) {
	buf := newCBuffer(data)
	if buf == nil {
		return nil, &Error{Op: "FromBytes", Status: StatusAllocation, Message: fmt.Sprintf("cannot allocate %d bytes", len(data))}
	}
	var h *C.LlametteModel
	err := call("FromBytes", func() uint32 {
		return C.llamette_model_from_memory((*C.uint8_t)(buf.p), C.size_t(buf.n), &h)
	})
	if err != nil {
		buf.free()
		return nil, err
	}
	return newModel(h, buf)
}

func newModel(h *C.LlametteModel, buf *cBuffer) (*Model, error) {
	liveModels.Add(1)
	core := &modelCore{h: h, buf: buf}
	core.refs.Store(1)
	var ci C.LlametteModelInfo
	if err := call("Info", func() uint32 { return C.llamette_model_info(h, &ci) }); err != nil {
		core.release()
		return nil, err
	}
	core.info = ModelInfo{
		NVocab: uint32(ci.n_vocab), NEmbd: uint32(ci.n_embd), NLayer: uint32(ci.n_layer),
		NFF: uint32(ci.n_ff), NHead: uint32(ci.n_head), NHeadKV: uint32(ci.n_head_kv),
		HeadDim: uint32(ci.head_dim), NCtxTrain: uint32(ci.n_ctx_train),
		RopeFreqBase: float32(ci.rope_freq_base), RMSEps: float32(ci.rms_eps),
		BOS: int32(ci.bos), EOS: int32(ci.eos), EOT: int32(ci.eot),
		ChatFormat: ChatFormat(ci.chat_format), CopiedBytes: uint64(ci.copied_bytes),
	}
	m := &Model{core: core}
	runtime.SetFinalizer(m, (*Model).release)
	return m, nil
}

func (m *Model) release() {
	if m.closed.Swap(true) {
		return
	}
	m.core.release()
}

// Close releases the model handle. It is idempotent, and must not run while another goroutine
// is inside a method of this model.
func (m *Model) Close() error {
	runtime.SetFinalizer(m, nil)
	m.release()
	return nil
}

// handle returns the C handle, or an error after Close.
func (m *Model) handle(op string) (*C.LlametteModel, error) {
	if m == nil || m.closed.Load() {
		return nil, closedError(op)
	}
	return m.core.h, nil
}

// view returns a Model sharing m's core for a derived handle's internal use: it has no
// finalizer and is never closed; the derived handle's reference keeps the core alive.
func (c *modelCore) view() *Model { return &Model{core: c} }

// Info returns the model's hyperparameters and special tokens.
func (m *Model) Info() ModelInfo { return m.core.info }

// Architecture returns general.architecture (e.g. "llama").
func (m *Model) Architecture() (string, error) {
	h, err := m.handle("Architecture")
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(m)
	var buf []byte
	n, err := callSized("Architecture", 32, func(capacity int) (uint32, int) {
		buf = make([]byte, capacity)
		var n C.size_t
		st := C.llamette_model_architecture(h, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(capacity), &n)
		return st, int(n) + 1
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n-1]), nil
}

// Meta returns the metadata value of key as text (numbers in decimal, arrays as "[n items]").
func (m *Model) Meta(key string) (string, error) {
	h, err := m.handle("Meta")
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(m)
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	var buf []byte
	n, err := callSized("Meta", 256, func(capacity int) (uint32, int) {
		buf = make([]byte, capacity)
		var n C.size_t
		st := C.llamette_model_meta_string(h, ckey, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(capacity), &n)
		return st, int(n) + 1
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n-1]), nil
}

// IsEOG reports whether token ends generation (the vocabulary's end-of-generation set).
func (m *Model) IsEOG(token Token) (bool, error) {
	h, err := m.handle("IsEOG")
	if err != nil {
		return false, err
	}
	defer runtime.KeepAlive(m)
	var out C.bool
	err = call("IsEOG", func() uint32 { return C.llamette_model_is_eog(h, C.uint32_t(token), &out) })
	return bool(out), err
}

// Tokenize tokenizes UTF-8 text as llama.cpp's llama_tokenize does. addSpecial puts BOS (and
// EOS) where the vocabulary says so; parseSpecial turns control tokens written in the text
// (like "<|im_start|>") into their ids.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]Token, error) {
	h, err := m.handle("Tokenize")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	tb := []byte(text)
	var ids []Token
	n, err := callSized("Tokenize", len(tb)+4, func(capacity int) (uint32, int) {
		ids = make([]Token, capacity)
		var n C.size_t
		st := C.llamette_tokenize(h, bytesPtr(tb), C.size_t(len(tb)), C.bool(addSpecial), C.bool(parseSpecial),
			tokensPtr(ids), C.size_t(capacity), &n)
		return st, int(n)
	})
	if err != nil {
		return nil, err
	}
	return ids[:n], nil
}

// TokenPiece returns the bytes of one token (llama_token_to_piece); a piece may be part of a
// UTF-8 character. special renders control tokens as their text (otherwise they are empty).
func (m *Model) TokenPiece(token Token, special bool) ([]byte, error) {
	h, err := m.handle("TokenPiece")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	var buf []byte
	n, err := callSized("TokenPiece", 32, func(capacity int) (uint32, int) {
		buf = make([]byte, capacity)
		var n C.size_t
		st := C.llamette_token_to_piece(h, C.uint32_t(token), C.bool(special), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(capacity), &n)
		return st, int(n)
	})
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Detokenize returns the text of ids, exactly as generation would hand it out (whole UTF-8
// characters; invalid bytes become U+FFFD).
func (m *Model) Detokenize(ids []Token) (string, error) {
	d, err := m.NewDetokenizer()
	if err != nil {
		return "", err
	}
	defer d.Close()
	var out []byte
	for _, id := range ids {
		piece, err := d.Push(id)
		if err != nil {
			return "", err
		}
		out = append(out, piece...)
	}
	rest, err := d.Finish()
	if err != nil {
		return "", err
	}
	return string(append(out, rest...)), nil
}

// RenderChat renders a conversation with the model's chat template to the prompt string (what
// Hugging Face's template renders). addAssistant ends it with the assistant's header.
func (m *Model) RenderChat(messages []Message, addAssistant bool) (string, error) {
	return m.RenderChatFormat(ChatNone, messages, addAssistant)
}

// RenderChatFormat is RenderChat with an explicit format (ChatNone: the model's own).
func (m *Model) RenderChatFormat(format ChatFormat, messages []Message, addAssistant bool) (string, error) {
	h, err := m.handle("RenderChat")
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(m)
	msgs, nmsgs, freeMsgs := cMessages(messages)
	defer freeMsgs()
	var buf []byte
	n, err := callSized("RenderChat", 256, func(capacity int) (uint32, int) {
		buf = make([]byte, capacity)
		var n C.size_t
		st := C.llamette_chat_render(h, C.LlametteChatFormat(format), msgs, nmsgs, C.bool(addAssistant),
			(*C.char)(unsafe.Pointer(&buf[0])), C.size_t(capacity), &n)
		return st, int(n) + 1
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n-1]), nil
}

// ChatTokens renders a conversation with the model's chat template to token ids, the way the
// format's reference code does (for CodeLlama-70B, Meta's dialog_prompt_tokens).
func (m *Model) ChatTokens(messages []Message, addAssistant bool) ([]Token, error) {
	return m.ChatTokensFormat(ChatNone, messages, addAssistant)
}

// ChatTokensFormat is ChatTokens with an explicit format (ChatNone: the model's own).
func (m *Model) ChatTokensFormat(format ChatFormat, messages []Message, addAssistant bool) ([]Token, error) {
	h, err := m.handle("ChatTokens")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	msgs, nmsgs, freeMsgs := cMessages(messages)
	defer freeMsgs()
	var ids []Token
	n, err := callSized("ChatTokens", 256, func(capacity int) (uint32, int) {
		ids = make([]Token, capacity)
		var n C.size_t
		st := C.llamette_chat_render_ids(h, C.LlametteChatFormat(format), msgs, nmsgs, C.bool(addAssistant),
			tokensPtr(ids), C.size_t(capacity), &n)
		return st, int(n)
	})
	if err != nil {
		return nil, err
	}
	return ids[:n], nil
}

// ChatStopTokens returns the tokens that end the assistant's turn in the model's chat format
// (EOS, plus <|im_end|> for ChatML, <step> for CodeLlama-70B, <|eot_id|> for Llama 3).
func (m *Model) ChatStopTokens() ([]Token, error) { return m.ChatStopTokensFormat(ChatNone) }

// ChatStopTokensFormat is ChatStopTokens for an explicit format (ChatNone: the model's own).
func (m *Model) ChatStopTokensFormat(format ChatFormat) ([]Token, error) {
	h, err := m.handle("ChatStopTokens")
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(m)
	var ids []Token
	n, err := callSized("ChatStopTokens", 8, func(capacity int) (uint32, int) {
		ids = make([]Token, capacity)
		var n C.size_t
		st := C.llamette_chat_stop_tokens(h, C.LlametteChatFormat(format), tokensPtr(ids), C.size_t(capacity), &n)
		return st, int(n)
	})
	if err != nil {
		return nil, err
	}
	return ids[:n], nil
}

// bytesPtr returns a C view of b's bytes (NULL when empty), valid during a cgo call.
func bytesPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// tokensPtr returns a C view of ids (NULL when empty), valid during a cgo call.
func tokensPtr(ids []Token) *C.uint32_t {
	if len(ids) == 0 {
		return nil
	}
	return (*C.uint32_t)(unsafe.Pointer(&ids[0]))
}

// cMessages copies messages into one block of C memory (the structs hold pointers, so they may
// not live in Go memory while C reads them) and returns it with a function that frees it.
func cMessages(messages []Message) (*C.LlametteMessage, C.size_t, func()) {
	if len(messages) == 0 {
		return nil, 0, func() {}
	}
	structBytes := len(messages) * int(unsafe.Sizeof(C.LlametteMessage{}))
	total := structBytes
	for _, msg := range messages {
		total += len(msg.Role) + len(msg.Content)
	}
	block := C.malloc(C.size_t(total + 1))
	if block == nil {
		panic("llamette: out of C memory")
	}
	all := unsafe.Slice((*byte)(block), total+1)
	structs := unsafe.Slice((*C.LlametteMessage)(block), len(messages))
	off := structBytes
	put := func(s string) (*C.char, C.size_t) {
		p := (*C.char)(unsafe.Pointer(&all[off]))
		off += copy(all[off:], s)
		return p, C.size_t(len(s))
	}
	for i, msg := range messages {
		structs[i].role, structs[i].role_len = put(msg.Role)
		structs[i].content, structs[i].content_len = put(msg.Content)
	}
	return (*C.LlametteMessage)(block), C.size_t(len(messages)), func() { C.free(block) }
}

package llamette

/*
#include <stdlib.h>
#include "llamette.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// RenderTemplate renders a conversation with a Jinja chat template, as Hugging Face's
// apply_chat_template(messages, add_generation_prompt=...) does (llamette_chat_render_template):
// bos_token and eos_token are the vocabulary's, there are no tools.
//
// template picks the template: "" is the file's own tokenizer.chat_template; the name of one
// of the file's alternatives (tokenizer.chat_template.<name>, such as "tool_use") is that one;
// any other string is the Jinja text itself. Messages may have any role.
//
// Tokenize the result with parseSpecial true, and addSpecial false when it already starts
// with BOS. A template that does not parse, calls what llamette does not support or raises an
// exception itself is an error matching ErrBadChat (the message names it and the template's
// line); a file without a template is ErrInvalid.
func (m *Model) RenderTemplate(template string, messages []Message, addGenerationPrompt bool) (string, error) {
	h, err := m.handle("RenderTemplate")
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(m)
	msgs, nmsgs, freeMsgs := cMessages(messages)
	defer freeMsgs()
	tb := []byte(template)
	tp, tn := templateArg(tb)
	guess := 256
	for _, msg := range messages {
		guess += len(msg.Role) + len(msg.Content) + 16
	}
	var buf []byte
	n, err := callSized("RenderTemplate", guess, func(capacity int) (uint32, int) {
		buf = make([]byte, capacity)
		var n C.size_t
		st := C.llamette_chat_render_template(h, tp, tn, msgs, nmsgs, C.bool(addGenerationPrompt),
			(*C.char)(unsafe.Pointer(&buf[0])), C.size_t(capacity), &n)
		return st, int(n) + 1
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n-1]), nil
}

// RenderTemplateJSON is RenderTemplate with the conversation as OpenAI-style JSON
// (llamette_chat_render_template_json): messages is a JSON array of message objects handed
// to the template as they are (content a string, null or a list of parts; tool_calls, name,
// ... where the template reads them), and tools a JSON array of tool definitions, the
// template's tools (nil or empty: none).
//
// The bytes are passed as they are, so the template sees the keys in their order (what tojson
// prints); json.Marshal of a map sorts them, of a struct keeps the fields' order. JSON that
// does not parse, or messages that are not an array, is an error matching ErrInvalid.
func (m *Model) RenderTemplateJSON(template string, messages, tools []byte, addGenerationPrompt bool) (string, error) {
	return m.RenderTemplateJSONDocuments(template, messages, tools, nil, addGenerationPrompt)
}

// RenderTemplateJSONDocuments is RenderTemplateJSON with documents: a JSON array of documents
// (objects such as {"title": ..., "text": ...}) that retrieval-augmented templates cite, the
// template's documents (nil or empty: none, which the template sees as none).
func (m *Model) RenderTemplateJSONDocuments(template string, messages, tools, documents []byte, addGenerationPrompt bool) (string, error) {
	h, err := m.handle("RenderTemplateJSON")
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(m)
	tb := []byte(template)
	tp, tn := templateArg(tb)
	// Empty messages are JSON that does not parse (ErrInvalid), not a NULL argument.
	mp := bytesPtr(messages)
	if mp == nil {
		mp = (*C.char)(unsafe.Pointer(&make([]byte, 1)[0]))
	}
	var toolsP *C.char // NULL: no tools
	if len(tools) > 0 {
		toolsP = (*C.char)(unsafe.Pointer(&tools[0]))
	}
	var docsP *C.char // NULL: no documents
	if len(documents) > 0 {
		docsP = (*C.char)(unsafe.Pointer(&documents[0]))
	}
	var buf []byte
	n, err := callSized("RenderTemplateJSON", 256+len(messages)+len(tools)+len(documents), func(capacity int) (uint32, int) {
		buf = make([]byte, capacity)
		var n C.size_t
		st := C.llamette_chat_render_template_json(h, tp, tn, mp, C.size_t(len(messages)), toolsP, C.size_t(len(tools)),
			docsP, C.size_t(len(documents)), C.bool(addGenerationPrompt), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(capacity), &n)
		return st, int(n) + 1
	})
	if err != nil {
		return "", err
	}
	return string(buf[:n-1]), nil
}

// templateArg returns the C view of a template argument: NULL for "" (the file's own).
func templateArg(tb []byte) (*C.char, C.size_t) {
	if len(tb) == 0 {
		return nil, 0
	}
	return (*C.char)(unsafe.Pointer(&tb[0])), C.size_t(len(tb))
}

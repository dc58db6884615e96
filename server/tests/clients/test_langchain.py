"""(d) LangChain's ChatOpenAI (package langchain-openai) against the server."""

from conftest import QUESTION, TIMEOUT


def _llm(base_url, model_id, **kw):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url + "/v1",
        api_key="x",
        model=model_id,
        temperature=0,
        max_retries=0,
        timeout=TIMEOUT,
        **kw,
    )


def test_langchain_invoke_and_stream(base_url, model_id):
    llm = _llm(base_url, model_id)
    msg = llm.invoke(QUESTION)
    assert "Paris" in msg.content
    usage = msg.usage_metadata
    assert usage and usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    streamed = "".join(chunk.content for chunk in llm.stream(QUESTION))
    assert streamed == msg.content


def test_langchain_messages_and_max_tokens(base_url, model_id):
    from langchain_core.messages import HumanMessage, SystemMessage

    llm = _llm(base_url, model_id, max_tokens=3)
    msg = llm.invoke([SystemMessage(content="You answer briefly."), HumanMessage(content=QUESTION)])
    assert msg.response_metadata.get("finish_reason") == "length"
    assert msg.usage_metadata["output_tokens"] == 3


def test_langchain_batch(base_url, model_id):
    llm = _llm(base_url, model_id, max_tokens=16)
    outs = llm.batch([QUESTION, QUESTION], config={"max_concurrency": 2})
    assert outs[0].content == outs[1].content and "Paris" in outs[0].content

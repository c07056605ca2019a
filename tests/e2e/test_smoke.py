"""The openai SDK, pointed at the mock by base URL alone, gets a well-formed completion."""

from tests.helpers import MODEL, data_url, image_bytes


def test_openai_sdk_text_completion(openai_client):
    completion = openai_client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hello"}])
    assert completion.id.startswith("chatcmpl-") and len(completion.id) == len("chatcmpl-") + 29
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


def test_openai_sdk_image_completion(openai_client):
    completion = openai_client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url(image_bytes())}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
                    {"type": "text", "text": "What is in these images?"},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content
    # two images cost at least 64 tokens each on top of the text
    assert completion.usage.prompt_tokens > 128

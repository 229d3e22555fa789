from decimal import Decimal

from apps.moonshot.catalogue import chat_models, get_model, missing_models
from apps.moonshot.tokens import estimate_messages_tokens, estimate_tokens


def test_chinese_estimate_is_one_token_per_about_1_6_characters():
    text = "月之暗面科技有限公司提供的文件抽取接口可以把文件转成文本" * 10  # 280 characters
    assert 140 <= estimate_tokens(text) <= 187  # between 1/2 and 1/1.5 tokens per character


def test_english_estimate_is_about_four_characters_per_token():
    text = "The quarterly report shows revenue growth in every region. " * 20
    assert len(text) / 5 <= estimate_tokens(text) <= len(text) / 3


def test_mixed_text_adds_both_and_empty_is_zero():
    assert estimate_tokens("") == 0
    assert estimate_tokens("Kimi 模型") >= estimate_tokens("Kimi") + 1


def test_messages_add_overhead_per_message():
    messages = [{"role": "system", "content": "abc"}, {"role": "user", "content": "abc"}]
    assert estimate_messages_tokens(messages) == 2 * estimate_tokens("abc") + 2 * 4 + 3


def test_chat_models_sorted_by_window_and_cost_uses_cache_price():
    windows = [m.context_window for m in chat_models()]
    assert windows == sorted(windows)
    assert windows[0] == 8192
    k2 = get_model("kimi-k2-0905-preview")
    # 1M prompt tokens of which 400k cached, 100k completion: 0.6*4 + 0.4*1 + 0.1*16
    assert k2.cost_cny(1_000_000, 100_000, cached_tokens=400_000) == Decimal("4.400000")
    v1 = get_model("moonshot-v1-8k")
    assert v1.cost_cny(1000, 1000, cached_tokens=500) == Decimal("0.012000")


def test_missing_models_are_reported():
    assert missing_models(["moonshot-v1-8k", "moonshot-v1-32k"]) == ["moonshot-v1-128k"]

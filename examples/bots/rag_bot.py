#!/usr/bin/env python3
"""A tiny retrieval-augmented bot for the `exec` backend (see examples/rag.yaml).

It retrieves the two passages of a small returns policy that share most words with the question,
answers from the best one, and reports what it retrieved, so the RAG metrics can judge it:
  request: {"input": "...", "messages": [...], "session": ..., "sampleId": "..."}
  reply:   {"reply": "...", "contexts": ["passage", ...], "finishReason": "stop"}
Asked about gift cards it adds a sentence no passage supports, on purpose: the `faithfulness`
metric catches it.
"""
import json
import re
import sys

PASSAGES = [
    "Refunds are paid to the original payment method within 30 days of receiving the returned item.",
    "Items can be returned within 60 days of delivery if they are unused and in their original packaging.",
    "Standard shipping takes 3-5 business days; express shipping takes 1-2 business days.",
    "Gift cards cannot be returned or exchanged for cash.",
    "Our stores are open from 9am to 6pm, Monday to Saturday.",
]

STOP = {"a", "an", "the", "do", "does", "i", "my", "to", "of", "is", "it", "can", "how", "what", "for", "in", "take", "long"}


def stem(word):
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)]
    return word


def words(text):
    return {stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOP}


def retrieve(question, k=2):
    asked = words(question)
    ranked = sorted(PASSAGES, key=lambda p: (-len(asked & words(p)), PASSAGES.index(p)))
    return ranked[:k]


def main():
    request = json.load(sys.stdin)
    contexts = retrieve(request["input"])
    reply = contexts[0]
    if "gift" in request["input"].lower():
        reply += " As a thank-you, you also get a 10% voucher for your next order."
    print(json.dumps({"reply": reply, "contexts": contexts, "finishReason": "stop"}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A tiny chatbot for the `exec` backend (see examples/exec-bot.yaml).

The exec backend starts this program once per turn, writes one JSON request on stdin and reads
one JSON reply from stdout:
  request: {"input": "...", "messages": [{"role", "content"}...], "session": <JSON or null>, "sampleId": "..."}
  reply:   {"reply": "...", "session": <any JSON>, "finishReason": "stop", "usage": {...}}
The process keeps nothing between turns: what the bot must remember (the user's name, the turn
number) travels in `session`, which the runner hands back on the next turn of the same conversation.
Anything printed before the last line (logs) is ignored; stderr is quoted in errors.
"""
import json
import re
import sys

FAQ = [
    (("refund", "return"), "Refunds are paid within 30 days of receiving your return."),
    (("shipping", "delivery"), "Standard shipping takes 3-5 business days."),
    (("password",), "Use 'Forgot password' on the sign-in page."),
]


def answer(text, session):
    match = re.search(r"my name is (\w+)", text, re.IGNORECASE)
    if match:
        session["name"] = match.group(1)
        return "Nice to meet you, %s! How can I help?" % session["name"]
    lowered = text.lower()
    if "echo" in lowered:
        return "You said: " + text
    for keywords, reply in FAQ:
        if any(word in lowered for word in keywords):
            return reply
    return "Sorry, I can help with refunds, shipping and passwords."


def main():
    request = json.load(sys.stdin)
    session = request.get("session") or {"turn": 0}
    session["turn"] = session.get("turn", 0) + 1
    reply = answer(request["input"], session)
    if session.get("name") and not reply.startswith("Nice to meet you"):
        reply = "%s, %s" % (session["name"], reply[0].lower() + reply[1:])
    print("log: sample %s turn %d" % (request.get("sampleId"), session["turn"]))  # a log line: ignored
    print(json.dumps({
        "reply": reply,
        "session": session,
        "finishReason": "stop",
        "usage": {"promptTokens": len(request["input"].split()), "completionTokens": len(reply.split())},
    }))


if __name__ == "__main__":
    main()

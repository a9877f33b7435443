import ChatbotTesterCore
import Foundation

/// One reply of the simulated user: the next message, or the end of the conversation.
public struct SimulatorTurn: Sendable, Hashable, Codable {
    /// The message to send to the chatbot (ignored when `done`).
    public var message: String
    /// Whether the simulated user ends the conversation.
    public var done: Bool
    /// Why it ended: `goal_reached` or `gave_up` (normalised), when `done`.
    public var reason: String?

    public init(message: String, done: Bool = false, reason: String? = nil) {
        self.message = message
        self.done = done
        self.reason = reason
    }
}

/// The protocol between the Runner and the model that plays a simulated user.
///
/// The simulator gets a system prompt describing the persona, goal and stop condition, then the
/// conversation so far **with roles flipped**: the chatbot's replies appear as `user` messages and
/// the simulated user's own earlier messages as `assistant` messages; the chatbot's system prompt is
/// not shown, nor are tool calls and tool results. Before the first turn it gets one `user`
/// message asking it to open the conversation.
///
/// It is asked (with `responseFormat: .jsonSchema`) to answer
/// `{"message": "...", "done": false, "reason": null}`; `done: true` with `reason` `goal_reached`
/// or `gave_up` ends the dialogue. Replies that are not JSON are accepted too: the text is the
/// message, and a `[DONE]` marker (or `[GAVE_UP]`) anywhere ends the conversation. On the opening
/// turn `done` only counts when there is no message (nothing can be reached before the first
/// message); an empty `done` opening ends with zero turns.
public enum SimulatedUserProtocol {
    /// Stop reason when the simulated user reached its goal.
    public static let goalReached = "goal_reached"
    /// Stop reason when the simulated user gave up.
    public static let gaveUp = "gave_up"
    /// Stop reason when the turn limit ended the conversation.
    public static let maxTurns = "max_turns"
    /// Stop reason of single and scripted conversations.
    public static let completed = "completed"

    /// The marker that ends a plain-text reply with the goal reached.
    public static let doneMarker = "[DONE]"
    /// The marker that ends a plain-text reply with the user giving up.
    public static let gaveUpMarker = "[GAVE_UP]"

    /// The JSON schema of a simulator reply.
    public static let responseSchema: JSONValue = [
        "type": "object",
        "properties": [
            "message": ["type": "string", "description": "Your next message to the assistant, in character."],
            "done": ["type": "boolean", "description": "true when the conversation should end."],
            "reason": ["type": ["string", "null"], "enum": ["goal_reached", "gave_up", nil]],
        ],
        "required": ["message", "done", "reason"],
        "additionalProperties": false,
    ]

    /// The response format requested from the simulator.
    public static let responseFormat = ResponseFormat.jsonSchema(name: "simulated_user_turn", schema: responseSchema)

    /// The message that asks the simulator to open the conversation.
    public static let openingInstruction =
        "The conversation has not started yet. Write your first message to the assistant."

    /// The simulator's system prompt for a scenario.
    public static func systemPrompt(for scenario: Scenario) -> String {
        var text = """
            You are role-playing a user talking to an AI assistant, to test it. Stay in character; \
            never reveal that you are simulated and never act as the assistant.

            Persona: \(scenario.persona)
            Goal: \(scenario.goal)
            """
        if let stop = scenario.stopCondition { text += "\nThe goal counts as reached when: \(stop)" }
        text += """


            In this conversation the assistant's messages are shown to you as the user's, and your own \
            earlier messages as yours. Reply with a JSON object {"message": string, "done": boolean, \
            "reason": "goal_reached" | "gave_up" | null}. Set done to true with reason "goal_reached" \
            once your goal is reached, or "gave_up" if the assistant cannot or will not help; \
            otherwise put your next message in "message" and set done to false.
            """
        return text
    }

    /// The messages sent to the simulator: its system prompt, then the transcript with roles flipped
    /// (the chatbot's system prompt left out), or the opening instruction when nothing was said yet.
    public static func simulatorMessages(for scenario: Scenario, transcript: [Message]) -> [Message] {
        var messages: [Message] = [.system(systemPrompt(for: scenario))]
        for message in transcript {
            switch message.role {
            case .user: messages.append(.assistant(message.content))
            case .assistant:
                // A reply that only calls tools says nothing to the user.
                if message.content.isEmpty, message.toolCalls != nil { continue }
                messages.append(.user(message.content))
            case .system, .tool: continue
            }
        }
        if messages.count == 1 { messages.append(.user(openingInstruction)) }
        return messages
    }

    /// Reads a simulator reply: JSON `{message, done, reason}` (also inside a code fence or
    /// surrounded by text), else plain text with optional `[DONE]` / `[GAVE_UP]` markers.
    public static func parse(_ text: String) -> SimulatorTurn {
        if let turn = parseJSON(text) { return turn }
        var message = text
        var done = false
        var reason: String?
        if message.localizedCaseInsensitiveContains(gaveUpMarker) {
            done = true
            reason = gaveUp
            message = message.replacingOccurrences(of: gaveUpMarker, with: "", options: .caseInsensitive)
        }
        if message.localizedCaseInsensitiveContains(doneMarker) {
            done = true
            reason = reason ?? goalReached
            message = message.replacingOccurrences(of: doneMarker, with: "", options: .caseInsensitive)
        }
        return SimulatorTurn(message: message.trimmingCharacters(in: .whitespacesAndNewlines), done: done, reason: reason)
    }

    private static func parseJSON(_ text: String) -> SimulatorTurn? {
        guard let open = text.firstIndex(of: "{"), let close = text.lastIndex(of: "}"), open < close else { return nil }
        guard let value = try? JSONCoding.decoder().decode(JSONValue.self, from: Data(text[open...close].utf8)),
            let object = value.objectValue, object["message"] != nil || object["done"] != nil
        else { return nil }
        let message = object["message"]?.stringValue ?? ""
        let done = object["done"]?.boolValue ?? (object["done"]?.stringValue?.lowercased() == "true")
        return SimulatorTurn(message: message, done: done, reason: done ? normalise(object["reason"]?.stringValue) : nil)
    }

    /// Maps a free-form reason to `goal_reached` or `gave_up`.
    static func normalise(_ reason: String?) -> String {
        guard let reason = reason?.lowercased() else { return goalReached }
        if reason.contains("gave") || reason.contains("give") || reason.contains("abandon") || reason.contains("fail") {
            return gaveUp
        }
        return goalReached
    }
}

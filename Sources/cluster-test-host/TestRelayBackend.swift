import ChatbotTester
import Foundation

/// A custom backend type ("test-relay") with an ordinary option named like a secret
/// (`password`, a plain `.string`, not declared secret): it builds the built-in `http` backend
/// with `password` and `auth_mode` in the request body. The secrets tests check the option
/// reaches the bot exactly as written, with and without workers.
enum TestRelayBackend {
    static func register(in registry: inout BackendRegistry) {
        let http = BackendRegistry.builtin().type(named: "http")!
        registry.register(
            "test-relay", summary: "POSTs {message, password, auth_mode} to url; reply at $.reply (secrets tests).",
            options: [
                OptionSpec("url", .string, required: true, "endpoint"),
                OptionSpec("password", .string, "sent in the body as written (not a secret: named like one)"),
                OptionSpec("authMode", .string, "sent as auth_mode"),
            ]
        ) { options, context in
            let body: JSONValue = [
                "message": "{{input}}", "password": .string(try options.string("password") ?? ""),
                "auth_mode": .string(try options.string("authMode") ?? ""),
            ]
            let relayed: [String: JSONValue] = ["url": .string(try options.requiredString("url")), "body": body, "replyPath": "$.reply"]
            return try await http.factory(ComponentOptions(relayed, context: context), context)
        }
    }
}

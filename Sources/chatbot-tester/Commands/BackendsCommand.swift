import ArgumentParser
import ChatbotTester
import Foundation

/// `chatbot-tester backends …`: inspect backend types.
struct BackendsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backends", abstract: "Inspect backend types.", subcommands: [List.self], defaultSubcommand: List.self)

    /// `chatbot-tester backends list [--json]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered backend types and their options.")

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            print(try ComponentListing.render(BackendRegistry.builtin(), json: json, sharedTitle: "options every type accepts (middleware)"), terminator: "")
        }
    }
}

/// `chatbot-tester metrics …`: inspect metric types.
struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics", abstract: "Inspect metric types.", subcommands: [List.self], defaultSubcommand: List.self)

    /// `chatbot-tester metrics list [--json]`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered metric types and their options.")

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            print(try ComponentListing.render(MetricRegistry.builtinMetrics, json: json, sharedTitle: "options every metric accepts"), terminator: "")
        }
    }
}

/// The text and JSON listings of a registry's types (`backends list`, `metrics list`).
enum ComponentListing {
    /// The listing as text or JSON (each ends with a newline).
    static func render<Component>(_ registry: ComponentRegistry<Component>, json: Bool, sharedTitle: String) throws -> String {
        json ? try jsonListing(registry) + "\n" : textListing(registry, sharedTitle: sharedTitle)
    }

    struct TypeListing: Encodable {
        var name: String
        var summary: String
        var options: [OptionSpec]
    }

    struct Listing: Encodable {
        var types: [TypeListing]
        /// Keys every type accepts (middleware), when registered.
        var sharedOptions: [OptionSpec]
    }

    static func jsonListing<Component>(_ registry: ComponentRegistry<Component>) throws -> String {
        let listing = Listing(
            types: registry.allTypes.map { TypeListing(name: $0.name, summary: $0.summary, options: $0.options) },
            sharedOptions: registry.sharedOptions)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(listing), as: UTF8.self)
    }

    static func textListing<Component>(_ registry: ComponentRegistry<Component>, sharedTitle: String) -> String {
        var text = ""
        for type in registry.allTypes {
            text += "\(type.name) — \(type.summary)\n"
            text += optionLines(type.options)
            text += "\n"
        }
        if !registry.sharedOptions.isEmpty {
            text += sharedTitle + "\n" + optionLines(registry.sharedOptions)
        }
        return text
    }

    static func optionLines(_ options: [OptionSpec]) -> String {
        let width = options.map(\.name.count).max() ?? 0
        return options.map { option in
            var line = "  " + option.name.padding(toLength: width + 2, withPad: " ", startingAt: 0)
            line += option.kind.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            var notes: [String] = []
            if option.required { notes.append("required") }
            if let value = option.defaultValue { notes.append("default \(value)") }
            line += option.summary
            if !notes.isEmpty { line += " (\(notes.joined(separator: ", ")))" }
            return line + "\n"
        }.joined()
    }
}

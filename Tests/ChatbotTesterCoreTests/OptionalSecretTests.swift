import ChatbotTesterCore
import Foundation
import Testing

@Suite struct OptionalSecretTests {
    let resolver = SecretResolver(environment: ["SET": "s3cret"])

    @Test func optionalReferenceResolvesWhenSetAndIsNilWhenNot() throws {
        #expect(try resolver.resolveIfPresent(["env": "SET", "optional": true], field: "backends.bot.apiKey") == "s3cret")
        #expect(try resolver.resolveIfPresent(["env": "UNSET", "optional": true], field: "backends.bot.apiKey") == nil)
        #expect(try resolver.resolveIfPresent(["file": "/nonexistent/key", "optional": true], field: "f") == nil)
    }

    @Test func requiredReferenceStillFailsNamingTheField() {
        #expect {
            try resolver.resolveIfPresent(["env": "UNSET"], field: "backends.bot.apiKey")
        } throws: { error in
            let error = error as? ChatbotTesterError
            return error?.code == .missingSecret && error?.location?.field == "backends.bot.apiKey"
        }
    }

    @Test func referenceShapes() {
        #expect(SecretResolver.isReference(["env": "A"]))
        #expect(SecretResolver.isReference(["env": "A", "optional": true]))
        #expect(!SecretResolver.isReference(["env": "A", "optional": "yes"]))
        #expect(!SecretResolver.isReference(["env": "A", "file": "B"]))
        #expect(!SecretResolver.isReference(["optional": true]))
        #expect(!SecretResolver.isReference("literal"))
    }

    @Test func anOptionalKeyLeavesTheOptionUnset() throws {
        let context = ComponentContext(instanceName: "bot", secrets: resolver)
        let options = ComponentOptions(["apiKey": ["env": "UNSET", "optional": true], "other": ["env": "SET"]], context: context)
        #expect(try options.secret("apiKey") == nil)
        #expect(try options.secret("other") == "s3cret")
    }
}

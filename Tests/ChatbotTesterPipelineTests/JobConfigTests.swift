import ChatbotTester
import Foundation
import Testing

@Suite struct JobConfigTests {
    static let yaml = """
        name: nightly
        backends:
          bot:   {type: openai, baseURL: "http://127.0.0.1:8080/v1", model: my-bot, apiKey: {env: BOT_KEY}}
          judge:
            type: anthropic
            model: claude-sonnet
            apiKey: {env: ANTHROPIC_API_KEY}
        dataset: data/cases.jsonl
        run:      {target: bot, concurrency: 32, timeoutSeconds: 60, retries: 4}
        evaluate:
          metrics:
            - {type: contains, value: "30 days"}
            - {type: llm-judge, backend: judge, rubric: "Helpful?", threshold: 0.7}
        output:   runs/nightly
        """

    @Test func designExampleLoads() throws {
        let document = try ConfigDocument.parse(Self.yaml, source: "job.yaml")
        let config = try JobConfig(document: document, baseDirectory: URL(fileURLWithPath: "/srv/jobs"))
        #expect(config.name == "nightly")
        #expect(config.backends.names == ["bot", "judge"])
        #expect(config.backends["bot"]?.type == "openai")
        #expect(config.backends["bot"]?.options["apiKey"] == ["env": "BOT_KEY"])
        #expect(config.backends["bot"]?.options["baseURL"] == "http://127.0.0.1:8080/v1")
        #expect(config.datasetURL()?.path == "/srv/jobs/data/cases.jsonl")
        #expect(config.output == "runs/nightly")
        let run = try #require(try config.section("run", as: JSONValue.self))
        #expect(run["concurrency"] == .int(32))
        #expect(document.line(of: "evaluate.metrics[1].threshold") == 13)
        #expect(document.line(of: "backends.judge.model") == 6)
    }

    @Test func jsonConfigsLoadToo() throws {
        let json = #"{"backends": {"bot": {"type": "scripted", "default": "hi"}}, "dataset": {"path": "/tmp/x.jsonl", "limit": 5}}"#
        let config = try JobConfig(document: ConfigDocument.parse(json))
        #expect(config.dataset == DatasetSource(path: "/tmp/x.jsonl", limit: 5))
        #expect(config.backends["bot"]?.options["default"] == "hi")
    }

    @Test func unknownSectionNamesLineAndField() throws {
        let text = "backends: {}\nevalute:\n  metrics: []\n"
        #expect {
            try JobConfig(document: ConfigDocument.parse(text, source: "job.yaml"))
        } throws: { error in
            let error = error as? ChatbotTesterError
            return error?.location == SourceLocation(source: "job.yaml", line: 2, field: "evalute")
                && error?.message.contains("unknown section") == true
        }
    }

    @Test func wrongTypeInSectionNamesLine() throws {
        let text = """
            dataset:
              path: cases.jsonl
              limit: lots
            """
        #expect {
            try JobConfig(document: ConfigDocument.parse(text, source: "job.yaml"))
        } throws: { error in
            let error = error as? ChatbotTesterError
            return error?.location?.line == 3 && error?.location?.field == "dataset.limit"
                && error?.description.hasPrefix("job.yaml:3: field 'dataset.limit'") == true
        }
    }

    @Test func brokenYamlNamesLine() throws {
        let text = "backends:\n  bot: {type: openai\nrun: {}\n"
        #expect {
            try ConfigDocument.parse(text, source: "job.yaml")
        } throws: { error in
            let error = error as? ChatbotTesterError
            return error?.code == .invalidConfig && error?.location?.source == "job.yaml" && error?.location?.line != nil
        }
    }

    @Test func duplicateKeysAreRefused() throws {
        let text = "output: a\noutput: b\n"
        #expect(throws: ChatbotTesterError.self) {
            try ConfigDocument.parse(text, source: "job.yaml")
        }
    }

    @Test func quotedScalarsStayStrings() throws {
        let document = try ConfigDocument.parse("a: 'true'\nb: true\nc: '12'\nd: 12\ne: 1.5\nf: ~\n")
        #expect(document.value["a"] == "true")
        #expect(document.value["b"] == .bool(true))
        #expect(document.value["c"] == "12")
        #expect(document.value["d"] == .int(12))
        #expect(document.value["e"] == .double(1.5))
        #expect(document.value["f"] == .null)
    }

    @Test func datasetAndGenerateTogetherIsAnError() throws {
        let text = "dataset: a.jsonl\ngenerate: {templates: []}\n"
        #expect(throws: ChatbotTesterError.self) {
            try JobConfig(document: ConfigDocument.parse(text))
        }
    }

    @Test func environmentVariablesExpand() throws {
        let text = """
            backends:
              bot: {type: openai, baseURL: "${BOT_URL:-http://127.0.0.1:8080/v1}", model: "${MODEL}-chat", apiKey: {env: BOT_KEY}}
            run:
              concurrency: ${WORKERS:-8}
              target: bot
            output: "runs/$${literal}"
            """
        let document = try ConfigDocument.parse(text, environment: ["MODEL": "llama3", "WORKERS": "32"])
        #expect(document.value["backends"]?["bot"]?["baseURL"] == "http://127.0.0.1:8080/v1")
        #expect(document.value["backends"]?["bot"]?["model"] == "llama3-chat")
        #expect(document.value["backends"]?["bot"]?["apiKey"] == ["env": "BOT_KEY"])
        #expect(document.value["run"]?["concurrency"] == .int(32))
        #expect(document.value["output"] == "runs/${literal}")
        #expect {
            try ConfigDocument.parse("a: 1\nb: ${MISSING}\n", source: "job.yaml", environment: [:])
        } throws: { error in
            let error = error as? ChatbotTesterError
            return error?.location?.line == 2 && error?.location?.field == "b" && error?.message.contains("MISSING") == true
        }
    }
}

@_exported import ChatbotTesterCore
@_exported import ChatbotTesterPipeline

@_exported import ChatbotTesterCore

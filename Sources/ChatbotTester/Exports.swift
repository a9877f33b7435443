@_exported import ChatbotTesterBackends
@_exported import ChatbotTesterCluster
@_exported import ChatbotTesterClusterUV
@_exported import ChatbotTesterCore
@_exported import ChatbotTesterEvaluator
@_exported import ChatbotTesterGenerator
@_exported import ChatbotTesterPipeline
@_exported import ChatbotTesterRunner

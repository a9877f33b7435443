/// The Common layer of chatbot-tester: schemas, the component registry, backend protocols,
/// middleware, events and artifact storage. Imports Foundation and swift-log only.
public enum ChatbotTesterCoreInfo {
    /// The SDK version, reported in handshakes and reports.
    public static let version = "0.1.0"
}

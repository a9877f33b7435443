@testable import ChatbotTesterEvaluator
import Testing

/// `report.html`'s shell is built with one reservation (session 25): the page must still be the
/// template it was written as, byte for byte, whatever the title and body hold.
@Suite struct HTMLPageTests {
    /// The page as the interpolated template wrote it before.
    static func template(title: String, body: String) -> String {
        let css = HTMLPage.css, script = HTMLPage.script
        return
            """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
            <title>\(ReportText.html(title))</title>
            <style>\(css)</style>
            </head>
            <body>
            \(body)
            <script>\(script)</script>
            </body>
            </html>

            """
    }

    @Test(arguments: [
        ("chatbot-tester", "<p>one</p>"), ("<script>alert('x')</script> & \"q\" 🚀", ""),
        ("t", String(repeating: "<tr><td>sample é 🚀</td></tr>\n", count: 5_000)),
    ])
    func thePageIsTheTemplateByteForByte(title: String, body: String) {
        let page = HTMLPage.wrap(title: title, body: body)
        #expect(Array(page.utf8) == Array(Self.template(title: title, body: body).utf8))
        #expect(page.hasPrefix("<!DOCTYPE html>\n") && page.hasSuffix("</body>\n</html>\n"))
    }
}

/// Neighbouring keys on a QWERTY keyboard, for realistic typos.
enum KeyboardLayout {
    static let neighbours: [Character: [Character]] = {
        let rows = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"]
        let grid = rows.map(Array.init)
        var map: [Character: [Character]] = [:]
        for (r, row) in grid.enumerated() {
            for (c, key) in row.enumerated() {
                var near: [Character] = []
                for dr in -1...1 {
                    let rr = r + dr
                    guard rr >= 0, rr < grid.count else { continue }
                    // Rows are staggered: the row below sits half a key to the right.
                    let offsets = dr == 0 ? [-1, 1] : (dr < 0 ? [0, 1] : [-1, 0])
                    for dc in offsets {
                        let cc = c + dc
                        if cc >= 0, cc < grid[rr].count, key.isLetter == grid[rr][cc].isLetter { near.append(grid[rr][cc]) }
                    }
                }
                map[key] = near
            }
        }
        return map
    }()
}

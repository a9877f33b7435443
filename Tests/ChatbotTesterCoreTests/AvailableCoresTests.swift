import Foundation
import Testing

@testable import ChatbotTesterCore

/// The cores a process may use: its affinity mask and its cgroup's CPU quota, read from files laid
/// out as the kernel lays them out.
@Suite struct AvailableCoresTests {
    static func tree(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cores-\(UUID().uuidString)")
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    @Test func theTightestCgroupV2QuotaOnThePathCounts() throws {
        let root = try Self.tree([
            "fs/cpu.max": "max 100000\n",
            "fs/kubepods/cpu.max": "800000 100000\n",
            "fs/kubepods/pod1/cpu.max": "250000 100000\n",
            "fs/kubepods/pod1/ctr/cpu.max": "max 100000\n",
            "self-cgroup": "0::/kubepods/pod1/ctr\n",
        ])
        defer { try? FileManager.default.removeItem(at: root) }
        let quota = AvailableCores.cgroupQuota(root: root.appendingPathComponent("fs").path, procSelfCgroup: root.appendingPathComponent("self-cgroup").path)
        #expect(quota == 2.5)
        // 2.5 cores of quota: 3 workers' worth, under an affinity of 8.
        #expect(AvailableCores.count(affinity: 8, quota: quota, online: 64) == 3)
    }

    @Test func noQuotaOrUnreadableFilesLeaveTheAffinity() throws {
        let unlimited = try Self.tree(["fs/cpu.max": "max 100000\n", "self-cgroup": "0::/\n"])
        let garbage = try Self.tree(["fs/cpu.max": "lots\n", "self-cgroup": "0::/a\n"])
        let v1 = try Self.tree(["fs/cpu/cpu.cfs_quota_us": "150000\n", "fs/cpu/cpu.cfs_period_us": "100000\n", "self-cgroup": "1:cpu:/\n"])
        defer { for url in [unlimited, garbage, v1] { try? FileManager.default.removeItem(at: url) } }
        for root in [unlimited, garbage] {
            #expect(AvailableCores.cgroupQuota(root: root.appendingPathComponent("fs").path, procSelfCgroup: root.appendingPathComponent("self-cgroup").path) == nil)
        }
        #expect(AvailableCores.cgroupQuota(root: v1.appendingPathComponent("fs").path, procSelfCgroup: v1.appendingPathComponent("self-cgroup").path) == 1.5)
        #expect(AvailableCores.cgroupQuota(root: "/nonexistent-cgroup", procSelfCgroup: "/nonexistent-self") == nil)
        #expect(AvailableCores.count(affinity: 6, quota: nil, online: 64) == 6)
        #expect(AvailableCores.count(affinity: nil, quota: nil, online: 4) == 4)
        #expect(AvailableCores.count(affinity: 2, quota: 0.2, online: 4) == 1)
    }

    @Test func kernelCPUListsAreCounted() {
        #expect(AvailableCores.cpuListCount("0-3,8,10-11") == 7)
        #expect(AvailableCores.cpuListCount("0") == 1)
        for bad in ["", "3-1", "a", "0-", "-1", "1,,2"] { #expect(AvailableCores.cpuListCount(bad) == nil, "\(bad)") }
    }

    /// This process's own count is what its affinity mask allows, at most (the test host's mask).
    @Test func thisProcessCountsItsAffinity() throws {
        let affinity = try #require(AvailableCores.affinityCount())
        #expect(AvailableCores.count >= 1 && AvailableCores.count <= affinity)
    }
}

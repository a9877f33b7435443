import Foundation

/// How many cores this process may keep busy: the CPUs its affinity mask allows (`taskset`, a
/// container's cpuset) and, below that, its cgroup's CPU quota rounded up (a Kubernetes CPU limit:
/// `cpu.max` in cgroup v2, `cpu.cfs_quota_us` / `cpu.cfs_period_us` in v1). Foundation's
/// `activeProcessorCount` reads neither here, so `--workers auto` on a 2-CPU pod of a 64-core node
/// would start 64 workers; this starts 2.
public enum AvailableCores {
    /// The cores this process may use (at least 1).
    public static var count: Int {
        count(affinity: affinityCount(), quota: cgroupQuota(root: "/sys/fs/cgroup"), online: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The smaller of what the affinity mask allows and the quota (each nil when unknown; then
    /// `online`), at least 1.
    public static func count(affinity: Int?, quota: Double?, online: Int) -> Int {
        var cores = affinity ?? online
        if let quota, quota > 0 { cores = min(cores, Int(quota.rounded(.up))) }
        return max(1, cores)
    }

    /// The CPUs set in this process's affinity mask (`Cpus_allowed_list` in `/proc/self/status`);
    /// nil when it cannot be read.
    static func affinityCount(status: String = "/proc/self/status") -> Int? {
        guard let data = FileManager.default.contents(atPath: status), data.count < 1 << 20 else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        return cpuListCount(line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
    }

    /// The CPUs a kernel CPU list names (`0-3,8,10-11`: 7); nil when it is not one.
    static func cpuListCount(_ list: String) -> Int? {
        var total = 0
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]), low >= 0,
                high >= low, high < 1 << 20
            else { return nil }
            total += high - low + 1
        }
        return total > 0 ? total : nil
    }

    /// The CPU quota of this process's cgroup under `root`, in cores (`quota / period`); nil when
    /// there is none (`max`, `-1`) or it cannot be read. In cgroup v2 the tightest quota of the
    /// root and of each cgroup on the path `/proc/self/cgroup` names counts (a container sees its
    /// own cgroup at the root).
    public static func cgroupQuota(root: String, procSelfCgroup: String = "/proc/self/cgroup") -> Double? {
        func read(_ path: String) -> String? {
            guard let data = FileManager.default.contents(atPath: path), data.count < 4096 else { return nil }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // cgroup v2: "0::/path" in /proc/self/cgroup; cpu.max is "max 100000" or "200000 100000",
        // and the tightest limit of the cgroup and its ancestors holds.
        var directories = [root]
        if let own = read(procSelfCgroup)?.split(separator: "\n").first(where: { $0.hasPrefix("0::") })?.dropFirst(3) {
            var path = ""
            for component in own.split(separator: "/") {
                path += "/" + component
                directories.append(root + path)
            }
        }
        var tightest: Double?
        for directory in directories {
            guard let fields = read(directory + "/cpu.max")?.split(separator: " "), fields.count == 2, let quota = Double(fields[0]),
                let period = Double(fields[1]), quota > 0, period > 0
            else { continue }
            tightest = min(tightest ?? .infinity, quota / period)
        }
        if let tightest { return tightest }
        // cgroup v1.
        if let quotaText = read(root + "/cpu/cpu.cfs_quota_us"), let periodText = read(root + "/cpu/cpu.cfs_period_us"),
            let quota = Double(quotaText), let period = Double(periodText), quota > 0, period > 0
        {
            return quota / period
        }
        return nil
    }
}

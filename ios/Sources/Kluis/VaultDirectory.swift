import Foundation

/// Where an iOS app keeps the kluis vault, and how the file system guards it
/// (docs/BINDINGS.md "Backups and file protection"):
/// - data protection class `completeUnlessOpen`: the vault's files cannot be opened while the
///   device is locked, and a file opened before the lock (a collect that was under way) stays
///   usable until closed; every file the vault creates in the directory inherits the class;
/// - excluded from iCloud and computer backups: restored on another device the vault would meet
///   a Secure Enclave / Keychain device key that is not there (`KluisError.DeviceKeyChanged`).
/// Not compiled on the Linux CI machine (needs Xcode); `swift build` in the repository root on macOS.
public enum KluisVaultDirectory {
    /// `Application Support/kluis`, created if missing, with the protection class and the backup
    /// exclusion set (again on every call, so an existing directory is brought in line too).
    public static func prepare(fileManager: FileManager = .default) throws -> URL {
        let support = try fileManager.url(
            for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        var dir = support.appendingPathComponent("kluis", isDirectory: true)
        try fileManager.createDirectory(
            at: dir, withIntermediateDirectories: true,
            attributes: [.protectionKey: FileProtectionType.completeUnlessOpen])
        try fileManager.setAttributes(
            [.protectionKey: FileProtectionType.completeUnlessOpen], ofItemAtPath: dir.path)
        // Files made before this call keep their class: set it on each.
        for name in try fileManager.contentsOfDirectory(atPath: dir.path) {
            try fileManager.setAttributes(
                [.protectionKey: FileProtectionType.completeUnlessOpen],
                ofItemAtPath: dir.appendingPathComponent(name).path)
        }
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try dir.setResourceValues(values)
        return dir
    }
}

import CLibUV
import Foundation

/// Base of the objects that own one libuv handle (not for subclassing outside this module): the handle's `data` holds a retained reference to it,
/// released exactly once in the close callback, which also frees the handle's memory.
public class UVHandleOwner: @unchecked Sendable {
    /// Called on the loop thread once the handle is closed (its memory is freed right after).
    func handleClosed() {}

    /// Called on the loop thread when the loop shuts down with the handle still open.
    func closeForShutdown(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        uv_close(handle, uvCloseReleasingOwner)
    }

    /// Ties `handle` to this owner (retains it until the handle is closed).
    func adopt(_ handle: UnsafeMutableRawPointer) {
        handle.assumingMemoryBound(to: uv_handle_t.self).pointee.data = Unmanaged.passRetained(self).toOpaque()
    }
}

/// Zero-filled, stable heap memory for libuv handles and requests.
enum UVHandleMemory {
    static func allocate(_ type: uv_handle_type) -> UnsafeMutableRawPointer {
        zeroed(uv_handle_size(type))
    }

    static func allocate(request type: uv_req_type) -> UnsafeMutableRawPointer {
        zeroed(uv_req_size(type))
    }

    private static func zeroed(_ size: Int) -> UnsafeMutableRawPointer {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        return memory
    }
}

/// Close callback for owned handles: releases the owner, tells it, frees the handle.
let uvCloseReleasingOwner: uv_close_cb = { handle in
    guard let handle else { return }
    if let data = handle.pointee.data {
        handle.pointee.data = nil
        let owner = Unmanaged<UVHandleOwner>.fromOpaque(data).takeRetainedValue()
        owner.handleClosed()
    }
    UnsafeMutableRawPointer(handle).deallocate()
}

/// Close callback for unowned handles: frees the memory.
let uvCloseFreeingHandle: uv_close_cb = { handle in
    guard let handle else { return }
    UnsafeMutableRawPointer(handle).deallocate()
}

/// libuv's message for an error code.
func uvErrorText(_ code: Int32) -> String {
    String(cString: uv_strerror(code))
}

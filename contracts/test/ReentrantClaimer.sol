// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title TEST ONLY: a malicious member contract that re-enters from every callback it gets.
/// @notice Its controller drives it through run() (join, accept, commit, reveal, claim,
///         withdraw...), so it is a federation member and reward earner like any account. When
///         armed, each token hook or ETH receipt makes one call back into `reentryTarget`. The
///         inner call's failure is recorded (lastError), and re-raised when `bubble` is set so
///         the outer operation fails with it.
contract ReentrantClaimer {
    address public immutable controller;
    address public reentryTarget;
    bytes public reentryData;
    uint256 public maxReentries;
    bool public bubble;
    uint256 public attempts;
    uint256 public successes;
    uint256 public callbacks;
    bytes public lastError;

    error NotController(address caller);

    constructor() {
        controller = msg.sender;
    }

    modifier onlyController() {
        if (msg.sender != controller) revert NotController(msg.sender);
        _;
    }

    /// @notice Call `target` as this contract; a revert comes back with the target's own error.
    function run(address target, bytes calldata data) external onlyController returns (bytes memory ret) {
        bool ok;
        (ok, ret) = target.call(data);
        if (!ok) _raise(ret);
    }

    /// @notice Re-enter `target` with `data` on the next `times` callbacks.
    function arm(address target, bytes calldata data, uint256 times, bool bubble_) external onlyController {
        reentryTarget = target;
        reentryData = data;
        maxReentries = times;
        bubble = bubble_;
        attempts = 0;
        successes = 0;
        delete lastError;
    }

    /// @notice HookToken's callback (both sending and receiving).
    function tokenHook(address, address, uint256) external {
        _reenter();
    }

    receive() external payable {
        _reenter();
    }

    function _reenter() internal {
        ++callbacks;
        if (reentryTarget == address(0) || attempts >= maxReentries) return;
        ++attempts;
        (bool ok, bytes memory ret) = reentryTarget.call(reentryData);
        if (ok) {
            ++successes;
            return;
        }
        lastError = ret;
        if (bubble) _raise(ret);
    }

    function _raise(bytes memory data) private pure {
        assembly {
            revert(add(data, 32), mload(data))
        }
    }
}

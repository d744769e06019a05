// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What the registry asks the jobs contract before releasing a stake.
interface ITrainingJobsPending {
    /// @return Rounds of federation `fedId` in which `member` accepted work that is not yet closed.
    function pendingWork(uint256 fedId, address member) external view returns (uint256);
}

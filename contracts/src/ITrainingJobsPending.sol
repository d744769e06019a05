// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What the registry asks the jobs contract before releasing a stake, and tells it at a join.
interface ITrainingJobsPending {
    /// @return Rounds of federation `fedId` in which `member` accepted work that is not yet closed.
    function pendingWork(uint256 fedId, address member) external view returns (uint256);

    /// @notice `member` joined federation `fedId` (the jobs contract opens its records).
    function memberJoined(uint256 fedId, address member) external;
}

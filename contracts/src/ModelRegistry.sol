// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Governed record of released models.
/// @notice Governance (the timelock) records which trained model hash is an official release.
contract ModelRegistry {
    struct Release {
        uint256 jobId;
        bytes32 modelHash;
        string uri;
        uint64 recordedAt;
    }

    address public immutable governance;
    Release[] private _releases;

    error NotGovernance(address caller);
    error ZeroAddress();
    error ZeroModelHash();
    error UnknownRelease(uint256 id);

    event ModelReleased(uint256 indexed id, uint256 indexed jobId, bytes32 indexed modelHash, string uri);

    constructor(address governance_) {
        if (governance_ == address(0)) revert ZeroAddress();
        governance = governance_;
    }

    /// @notice Record a release; ids start at 1.
    function recordRelease(uint256 jobId, bytes32 modelHash, string calldata uri) external returns (uint256 id) {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        if (modelHash == bytes32(0)) revert ZeroModelHash();
        _releases.push(Release(jobId, modelHash, uri, uint64(block.timestamp)));
        id = _releases.length;
        emit ModelReleased(id, jobId, modelHash, uri);
    }

    function release(uint256 id) external view returns (Release memory) {
        if (id == 0 || id > _releases.length) revert UnknownRelease(id);
        return _releases[id - 1];
    }

    function releaseCount() external view returns (uint256) {
        return _releases.length;
    }
}

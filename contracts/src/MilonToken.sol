// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title MILON governance and staking token.
/// @notice Votes use the default block-number clock. A dev deployment may enable a capped faucet
///         so local networks and demos can hand out tokens without a treasury.
contract MilonToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice Largest amount a single faucet call may mint.
    uint256 public constant FAUCET_MAX = 10_000e18;
    /// @notice Chain ids of local development chains, the only ones a faucet may exist on:
    ///         anvil/hardhat devnets and the embedded py-evm chain (eth-tester's fixed id).
    uint256 public constant DEVNET_CHAIN_ID = 31_337;
    uint256 public constant EMBEDDED_CHAIN_ID = 131_277_322_940_537;

    bool private immutable _devFaucet;

    error FaucetDisabled();
    error FaucetAmountTooLarge(uint256 requested, uint256 max);
    error FaucetOnForeignChain(uint256 chainId);

    event FaucetMinted(address indexed to, uint256 amount);

    constructor(address initialHolder, uint256 initialSupply, bool devFaucet_)
        ERC20("MILON", "MILON")
        ERC20Permit("MILON")
    {
        if (devFaucet_ && block.chainid != DEVNET_CHAIN_ID && block.chainid != EMBEDDED_CHAIN_ID) {
            revert FaucetOnForeignChain(block.chainid);
        }
        _devFaucet = devFaucet_;
        if (initialSupply > 0) _mint(initialHolder, initialSupply);
    }

    /// @notice Whether this deployment has the development faucet.
    function devFaucet() external view returns (bool) {
        return _devFaucet;
    }

    /// @notice Mint up to FAUCET_MAX to `to`; only on dev deployments.
    function faucet(address to, uint256 amount) external {
        if (!_devFaucet) revert FaucetDisabled();
        if (amount > FAUCET_MAX) revert FaucetAmountTooLarge(amount, FAUCET_MAX);
        _mint(to, amount);
        emit FaucetMinted(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
